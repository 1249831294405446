"""Black-box tests of RTMP: ffmpeg publishes into vigil's RTMP server and
ffprobe reads the stream back from vigil's RTSP server; vigil plays a stream
from nginx-rtmp as an rtmp:// camera; garbage from one RTMP client drops
only that client.

Debian's ffmpeg 5.1 cannot put H.265 into FLV (enhanced RTMP came with
ffmpeg 6.1), so H.265 is covered by the unit tests (test_flv.c)."""
import socket
import time

import pytest

from conftest import free_port, ffprobe_streams, http_get, http_get_json, wait_for

NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def publish(start_process, url, audio=False, seconds=30, size="640x360"):
    args = ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-re",
            "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    args += ["-f", "flv", url]
    return start_process(args, "ffmpeg-rtmp")


def start_node(vigil_node, cameras=(), rtmp=True, **rtmp_keys):
    rtmp_port = free_port()
    cfg = {"workers": 2, "cameras": list(cameras)}
    if rtmp:
        cfg["rtmp_server"] = {"enabled": True, "bind": "127.0.0.1", "port": rtmp_port, **rtmp_keys}
    proc, http_port, rtsp_port = vigil_node(cfg)
    return proc, http_port, rtsp_port, rtmp_port


def camera_info(http_port, cam_id):
    for c in http_get_json(f"http://127.0.0.1:{http_port}/api/v1/cameras")["cameras"]:
        if c["id"] == cam_id:
            return c
    return None


def wait_online(http_port, cam_id, timeout=20):
    return wait_for(lambda: (camera_info(http_port, cam_id) or {}).get("state") == "online" and
                    camera_info(http_port, cam_id), timeout, what=f"camera {cam_id} online")


def probe(rtsp_port, name):
    return wait_for(lambda: ffprobe_streams(f"rtsp://127.0.0.1:{rtsp_port}/{name}"), 20,
                    what=f"ffprobe of {name}")


def test_publish_h264_is_restreamed_over_rtsp(vigil_node, start_process):
    proc, http_port, rtsp_port, rtmp_port = start_node(vigil_node)
    pub = publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/cam1", seconds=6)
    cam = wait_online(http_port, "cam1")
    assert cam["type"] == "push"
    streams = probe(rtsp_port, "cam1")
    assert [(s["codec_name"], s["width"], s["height"]) for s in streams] == [("h264", 640, 360)]
    wait_for(lambda: not pub.alive(), 30, what="the publisher to finish")
    proc.wait_output("camera[cam1] offline", 10)
    metrics = http_get(f"http://127.0.0.1:{http_port}/metrics")[2].decode()
    assert "vigil_rtmp_connections_total 1" in metrics
    assert camera_info(http_port, "cam1")["counters"]["frames"] >= 100


def test_publish_h264_aac(vigil_node, start_process):
    proc, http_port, rtsp_port, rtmp_port = start_node(vigil_node)
    publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/door?token=abc", audio=True, size="320x240")
    cam = wait_online(http_port, "door")
    streams = probe(rtsp_port, "door")
    kinds = {s["codec_type"]: s for s in streams}
    assert kinds["video"]["codec_name"] == "h264"
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (320, 240)
    assert kinds["audio"]["codec_name"] == "aac"
    assert int(kinds["audio"]["sample_rate"]) == 44100
    codecs = sorted(t["codec"] for t in wait_online(http_port, "door")["tracks"])
    assert codecs == ["AAC", "H264"], cam


def test_second_publisher_and_wrong_app_are_refused(vigil_node, start_process):
    proc, http_port, rtsp_port, rtmp_port = start_node(vigil_node)
    publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/busy")
    wait_online(http_port, "busy")
    second = publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/busy", seconds=5)
    wait_for(lambda: not second.alive(), 20, what="the second publisher to be refused")
    assert second.p.returncode != 0
    other = publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/other/x", seconds=5)
    wait_for(lambda: not other.alive(), 20, what="the publisher to another app to be refused")
    assert other.p.returncode != 0
    assert camera_info(http_port, "x") is None
    assert camera_info(http_port, "busy")["state"] == "online"


def test_publish_users(vigil_node, start_process):
    proc, http_port, rtsp_port, rtmp_port = start_node(
        vigil_node, publish_users=[{"user": "enc", "pass": "p@ss word"}])
    for query in ("", "?user=enc&pass=nope", "?user=other&pass=p%40ss%20word"):
        bad = publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/sec{query}", seconds=5)
        wait_for(lambda: not bad.alive(), 20, what="the publisher without valid credentials to be refused")
        assert bad.p.returncode != 0
    assert camera_info(http_port, "sec") is None
    publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/sec?user=enc&pass=p%40ss%20word")
    wait_online(http_port, "sec")
    metrics = http_get(f"http://127.0.0.1:{http_port}/metrics")[2].decode()
    assert "vigil_rtmp_auth_failures_total 3" in metrics
    assert "p@ss" not in proc.output()


def test_garbage_client_drops_only_itself(vigil_node, start_process):
    proc, http_port, rtsp_port, rtmp_port = start_node(vigil_node)
    publish(start_process, f"rtmp://127.0.0.1:{rtmp_port}/live/good")
    wait_online(http_port, "good")
    # Not a handshake at all.
    with socket.create_connection(("127.0.0.1", rtmp_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n" + b"\x00" * 2000)
        s.settimeout(5)
        assert s.recv(4096) == b""
    # A valid handshake, then chunks that make no sense.
    with socket.create_connection(("127.0.0.1", rtmp_port), timeout=5) as s:
        s.sendall(b"\x03" + b"\x00" * 1536)
        got = b""
        s.settimeout(5)
        while len(got) < 1 + 2 * 1536:
            chunk = s.recv(65536)
            assert chunk
            got += chunk
        s.sendall(b"\x00" * 1536)  # C2
        s.sendall(b"\x43\xff\xff\xff" * 64)  # fmt 1 on a chunk stream that never had a header
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
    time.sleep(0.5)
    assert proc.alive()
    assert camera_info(http_port, "good")["state"] == "online"
    streams = probe(rtsp_port, "good")
    assert streams[0]["codec_name"] == "h264"
    metrics = http_get(f"http://127.0.0.1:{http_port}/metrics")[2].decode()
    assert "vigil_rtmp_errors_total 2" in metrics


@pytest.fixture
def nginx_rtmp(start_process, tmp_path):
    """nginx with the RTMP module on a free port, application "live"."""
    port = free_port()
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
load_module {NGINX_RTMP_MODULE};
daemon off;
master_process off;
worker_processes 1;
error_log {tmp_path}/logs/error.log info;
pid {tmp_path}/nginx.pid;
events {{ worker_connections 64; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}
""")
    proc = start_process(["nginx", "-p", str(tmp_path), "-c", str(conf), "-e", f"{tmp_path}/logs/error.log"],
                         "nginx")

    def listening():
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_for(listening, 10, what="nginx-rtmp")
    assert proc.alive()
    return port


def test_rtmp_camera_pulls_from_nginx(vigil_node, start_process, nginx_rtmp):
    publish(start_process, f"rtmp://127.0.0.1:{nginx_rtmp}/live/x", audio=True)
    cam = {"id": "x", "url": f"rtmp://127.0.0.1:{nginx_rtmp}/live/x", "backoff_min_ms": 200,
           "backoff_max_ms": 1000}
    proc, http_port, rtsp_port, _ = start_node(vigil_node, [cam], rtmp=False)
    info = wait_online(http_port, "x")
    assert info["type"] == "rtmp"
    streams = probe(rtsp_port, "x")
    kinds = {s["codec_type"]: s for s in streams}
    assert (kinds["video"]["codec_name"], kinds["video"]["width"], kinds["video"]["height"]) == ("h264", 640, 360)
    assert kinds["audio"]["codec_name"] == "aac"


def test_rtmp_camera_reconnects(vigil_node, start_process, nginx_rtmp):
    cam = {"id": "late", "url": f"rtmp://127.0.0.1:{nginx_rtmp}/live/late", "read_timeout_ms": 1500,
           "backoff_min_ms": 200, "backoff_max_ms": 500}
    proc, http_port, rtsp_port, _ = start_node(vigil_node, [cam], rtmp=False)
    # Nobody publishes yet: no media, the camera goes offline and retries.
    wait_for(lambda: camera_info(http_port, "late")["counters"]["reconnects"] >= 1, 15,
             what="a reconnect")
    publish(start_process, f"rtmp://127.0.0.1:{nginx_rtmp}/live/late")
    wait_online(http_port, "late")
    assert probe(rtsp_port, "late")[0]["codec_name"] == "h264"
