"""Black-box tests of publishing into vigil's RTSP server (ANNOUNCE/RECORD):
a published path becomes a camera, goes away with its publisher, comes back
on re-publish, and publishers can be required to authenticate."""
import socket
import time

import test_rtsp_server as rs
from conftest import wait_for


def test_publish_leave_and_republish(start_process, vigil_bin, tmp_path):
    proc, port = rs.start_vigil(start_process, vigil_bin, tmp_path)
    url = f"rtsp://127.0.0.1:{port}/door"
    pub = rs.start_publisher(start_process, url, rs.VIDEO_H264, seconds=3)
    rs.wait_stream(port, "door")
    proc.wait_output("camera[door] online", 10)
    wait_for(lambda: not pub.alive(), 20, what="the publisher to finish")
    proc.wait_output("camera[door] offline", 10)
    st, _, _ = rs.rtsp_request(port, "DESCRIBE", "door")
    assert st == 503  # the camera exists but is offline
    # A second publish reuses the camera.
    rs.start_publisher(start_process, url, rs.VIDEO_H264, seconds=20, transport="udp")
    rs.wait_stream(port, "door")
    rc, err, frames = rs.decode(url, "tcp", 2)
    assert rc == 0 and frames >= 40, err
    assert proc.output().count("camera[door] online") == 2


def test_second_publisher_is_refused(start_process, vigil_bin, tmp_path):
    proc, port = rs.start_vigil(start_process, vigil_bin, tmp_path)
    url = f"rtsp://127.0.0.1:{port}/busy"
    rs.start_publisher(start_process, url, rs.VIDEO_H264)
    rs.wait_stream(port, "busy")
    sdp = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" \
          b"a=rtpmap:96 H264/90000\r\na=control:streamid=0\r\n"
    st, _, _ = rs.rtsp_request(port, "ANNOUNCE", "busy", {"Content-Type": "application/sdp"}, sdp)
    assert st == 403
    rc, err, frames = rs.decode(url, "tcp", 2)
    assert rc == 0 and frames >= 40, err


def test_publisher_digest_auth(start_process, vigil_bin, tmp_path):
    proc, port = rs.start_vigil(start_process, vigil_bin, tmp_path,
                                {"publish_users": [{"user": "cam", "pass": "pw1"}]})
    bad = rs.start_publisher(start_process, f"rtsp://cam:nope@127.0.0.1:{port}/secure", rs.VIDEO_H264)
    wait_for(lambda: not bad.alive(), 20, what="the unauthorized publisher to give up")
    assert "401" in bad.output()
    st, _, _ = rs.rtsp_request(port, "DESCRIBE", "secure")
    assert st == 404
    rs.start_publisher(start_process, f"rtsp://cam:pw1@127.0.0.1:{port}/secure", rs.VIDEO_H264)
    rs.wait_stream(port, "secure")  # readers are open: no read_users configured
    rc, err, frames = rs.decode(f"rtsp://127.0.0.1:{port}/secure", "udp", 2)
    assert rc == 0 and frames >= 40, err


def test_garbage_from_a_publisher_closes_only_it(start_process, vigil_bin, tmp_path):
    proc, port = rs.start_vigil(start_process, vigil_bin, tmp_path)
    rs.start_publisher(start_process, f"rtsp://127.0.0.1:{port}/good", rs.VIDEO_H264)
    rs.wait_stream(port, "good")
    sdp = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
           b"a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:streamid=0\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        def req(text, body=b""):
            s.sendall(text.encode() + body)
            time.sleep(0.2)
            return s.recv(4096)
        u = f"rtsp://127.0.0.1:{port}/evil"
        assert b" 200 " in req(f"ANNOUNCE {u} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n"
                               f"Content-Length: {len(sdp)}\r\n\r\n", sdp)
        r = req(f"SETUP {u}/streamid=0 RTSP/1.0\r\nCSeq: 2\r\n"
                "Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\r\n")
        assert b" 200 " in r
        session = [ln for ln in r.decode().split("\r\n") if ln.lower().startswith("session:")][0].split(":")[1]
        assert b" 200 " in req(f"RECORD {u} RTSP/1.0\r\nCSeq: 3\r\nSession: {session.split(';')[0].strip()}"
                               "\r\n\r\n")
        # Bad RTP inside valid frames (counted), then bytes that are not RTSP at all (closed).
        s.sendall(b"$\x00\x00\x04\xde\xad\xbe\xef" * 10)
        s.sendall(b"\x01\x02 this is not RTSP\r\n\r\n" * 10)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    proc.wait_output("camera[evil] offline", 10)
    rc, err, frames = rs.decode(f"rtsp://127.0.0.1:{port}/good", "tcp", 2)
    assert rc == 0 and frames >= 40, err
    assert proc.alive()


def test_publish_to_a_deleted_cameras_path(vigil_node, start_process):
    """A path that a configured camera holds refuses publishers; once the
    camera is deleted through the API (on the HTTP thread, while the
    publisher's attempts run on I/O workers), the next publisher makes it a
    camera of its own and vigil keeps running."""
    from test_crud import call

    proc, http, rtsp = vigil_node({"rtsp_server": {"allow_publish": True}})
    base = f"http://127.0.0.1:{http}"
    status, _, body = call(base, "POST", "/api/v1/cameras",
                           {"id": "churn", "url": f"rtsp://127.0.0.1:{rtsp}/nothing-here"})
    assert status == 201, body
    sdp = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n" \
          b"a=rtpmap:96 H264/90000\r\na=control:streamid=0\r\n"
    st, _, _ = rs.rtsp_request(rtsp, "ANNOUNCE", "churn", {"Content-Type": "application/sdp"}, sdp)
    assert st == 403
    pub = start_process(["sh", "-c", "while :; do ffmpeg -hide_banner -v error -re " +
                         " ".join(rs.VIDEO_H264) + " -t 20 -c:v libx264 -preset ultrafast -g 25 -f rtsp "
                         f"-rtsp_transport tcp rtsp://127.0.0.1:{rtsp}/churn; sleep 0.2; done"], "publisher")
    time.sleep(1)
    status, _, _ = call(base, "DELETE", "/api/v1/cameras/churn")
    assert status == 204

    def state():
        status, _, body = call(base, "GET", "/api/v1/cameras/churn")
        return (body.get("type"), body.get("state")) if status == 200 else None

    wait_for(lambda: state() == ("push", "online"), 20, what="the publisher's camera online")
    pub.stop()
    assert proc.alive()
    assert call(base, "GET", "/api/v1/health")[0] == 200
