"""Black-box tests of vigil's RTSP server as a restreamer.

The source of every stream is an ffmpeg publisher (ANNOUNCE/RECORD), so
these tests need nothing but vigil and ffmpeg; readers are ffprobe/ffmpeg
over TCP-interleaved and UDP. The helpers at the top are also used by
test_publish.py.
"""
import base64
import json
import socket
import subprocess
import threading
import time

from conftest import SLOW, free_port, wait_for

VIDEO_H264 = ["-f", "lavfi", "-i", "testsrc=size=640x480:rate=25",
              "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"]
VIDEO_H265 = ["-f", "lavfi", "-i", "testsrc=size=640x480:rate=25",
              "-c:v", "libx265", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
              "-x265-params", "log-level=error"]
AUDIO_AAC = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac", "-b:a", "64k"]
AUDIO_PCMU = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000", "-c:a", "pcm_mulaw"]


def start_vigil(start_process, vigil_bin, tmp_path, rtsp=None):
    """vigil run with the given rtsp_server keys; returns (proc, port)."""
    port = free_port()
    cfg = {"log_level": "info", "workers": 2,
           "http": {"port": free_port(), "bind": "127.0.0.1"},
           "auth": {"enabled": False},
           "rtsp_server": dict({"port": port, "bind": "127.0.0.1"}, **(rtsp or {}))}
    path = tmp_path / f"vigil-{port}.json"
    path.write_text(json.dumps(cfg))
    proc = start_process([vigil_bin, "run", "-c", str(path)], "vigil")
    proc.wait_output("listening on rtsp://", 20)
    return proc, port


def start_publisher(start_process, url, inputs, seconds=30, transport="tcp"):
    """ffmpeg -re publishing lavfi sources to url (ANNOUNCE/RECORD)."""
    # ffmpeg wants every input before the output options: split them.
    ins, opts, i = [], [], 0
    while i < len(inputs):
        if inputs[i] == "-f" and i + 3 < len(inputs) and inputs[i + 2] == "-i":
            ins += inputs[i:i + 4]
            i += 4
        else:
            opts.append(inputs[i])
            i += 1
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error"]
    for k in range(0, len(ins), 4):
        args += ["-re"] + ins[k:k + 4]
    args += opts + ["-t", str(seconds), "-rtsp_transport", transport, "-f", "rtsp", url]
    return start_process(args, "publisher")


def rtsp_request(port, method, path, headers=None, body=b"", timeout=5):
    """One raw request on a fresh connection; returns (status, headers dict, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW) as s:
        url = f"rtsp://127.0.0.1:{port}/{path}"
        lines = [f"{method} {url} RTSP/1.0", "CSeq: 1"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        first, *hlines = head.decode(errors="replace").split("\r\n")
        hdrs = {}
        for line in hlines:
            k, _, v = line.partition(":")
            hdrs.setdefault(k.strip().lower(), v.strip())
        n = int(hdrs.get("content-length", "0"))
        while len(rest) < n:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        return int(first.split()[1]), hdrs, rest


def wait_stream(port, path, headers=None, timeout=20):
    """Waits until DESCRIBE of path answers 200; returns the SDP."""
    def ok():
        st, _, body = rtsp_request(port, "DESCRIBE", path, headers)
        return body.decode() if st == 200 else None
    return wait_for(ok, timeout, what=f"stream {path}")


def probe(url, transport="tcp"):
    out = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", transport, "-show_streams",
                          "-of", "json", url], capture_output=True, timeout=30 * SLOW)
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-800:]
    return json.loads(out.stdout)["streams"]


def decode(url, transport="tcp", seconds=3, extra=()):
    """Decodes seconds of url with ffmpeg; returns (returncode, stderr, frames decoded)."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-rtsp_transport",
                          transport, *extra, "-i", url, "-t", str(seconds), "-map", "0:v:0",
                          "-f", "framemd5", "-"], capture_output=True, timeout=(seconds + 25) * SLOW)
    frames = sum(1 for line in out.stdout.decode().splitlines() if line and not line.startswith("#"))
    return out.returncode, out.stderr.decode(errors="replace"), frames


# ---- tests -------------------------------------------------------------------


def test_h264_restream_tcp_and_udp(start_process, vigil_bin, tmp_path):
    proc, port = start_vigil(start_process, vigil_bin, tmp_path)
    start_publisher(start_process, f"rtsp://127.0.0.1:{port}/pub1", VIDEO_H264)
    sdp = wait_stream(port, "pub1")
    assert "H264/90000" in sdp and "sprop-parameter-sets=" in sdp
    url = f"rtsp://127.0.0.1:{port}/pub1"
    streams = probe(url)
    v = [s for s in streams if s["codec_type"] == "video"][0]
    assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (640, 480)
    assert v["r_frame_rate"] == "25/1"
    for transport in ("tcp", "udp"):
        rc, err, frames = decode(url, transport, 3)
        assert rc == 0, err
        assert "error" not in err.lower(), err
        assert frames >= 60, (transport, frames, err)
    assert proc.alive()


def test_unknown_path_is_404(start_process, vigil_bin, tmp_path):
    _, port = start_vigil(start_process, vigil_bin, tmp_path)
    st, _, _ = rtsp_request(port, "DESCRIBE", "nothing-here")
    assert st == 404
    st, hdrs, _ = rtsp_request(port, "OPTIONS", "")
    assert st == 200 and "DESCRIBE" in hdrs["public"] and "ANNOUNCE" in hdrs["public"]


def test_h265_with_aac(start_process, vigil_bin, tmp_path):
    _, port = start_vigil(start_process, vigil_bin, tmp_path)
    start_publisher(start_process, f"rtsp://127.0.0.1:{port}/hevc", VIDEO_H265 + AUDIO_AAC)
    sdp = wait_stream(port, "hevc")
    assert "H265/90000" in sdp and "MPEG4-GENERIC/48000" in sdp
    url = f"rtsp://127.0.0.1:{port}/hevc"
    streams = probe(url)
    kinds = {s["codec_type"]: s for s in streams}
    assert kinds["video"]["codec_name"] == "hevc"
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (640, 480)
    assert kinds["audio"]["codec_name"] == "aac" and kinds["audio"]["sample_rate"] == "48000"
    rc, err, frames = decode(url, "tcp", 3)
    assert rc == 0 and frames >= 60, err


def test_h264_with_pcmu(start_process, vigil_bin, tmp_path):
    _, port = start_vigil(start_process, vigil_bin, tmp_path)
    start_publisher(start_process, f"rtsp://127.0.0.1:{port}/g711", VIDEO_H264 + AUDIO_PCMU)
    sdp = wait_stream(port, "g711")
    assert "PCMU/8000" in sdp
    streams = probe(f"rtsp://127.0.0.1:{port}/g711", "udp")
    assert sorted(s["codec_name"] for s in streams) == ["h264", "pcm_mulaw"]


def test_reader_digest_auth(start_process, vigil_bin, tmp_path):
    _, port = start_vigil(start_process, vigil_bin, tmp_path,
                          {"read_users": [{"user": "viewer", "pass": "s3cret"}]})
    start_publisher(start_process, f"rtsp://127.0.0.1:{port}/cam", VIDEO_H264)
    st, hdrs, _ = rtsp_request(port, "DESCRIBE", "cam")
    assert st == 401 and hdrs["www-authenticate"].startswith("Digest ")
    wait_stream(port, "cam", {"Authorization": "Basic " + base64.b64encode(b"viewer:s3cret").decode()})
    rc, err, _ = decode(f"rtsp://viewer:wrong@127.0.0.1:{port}/cam", "tcp", 1)
    assert rc != 0 and "401" in err
    rc, err, frames = decode(f"rtsp://viewer:s3cret@127.0.0.1:{port}/cam", "tcp", 2)
    assert rc == 0 and frames >= 40, err


def test_several_readers_and_a_garbage_client(start_process, vigil_bin, tmp_path):
    proc, port = start_vigil(start_process, vigil_bin, tmp_path)
    start_publisher(start_process, f"rtsp://127.0.0.1:{port}/multi", VIDEO_H264)
    wait_stream(port, "multi")
    url = f"rtsp://127.0.0.1:{port}/multi"
    results = []

    def reader(transport):
        results.append(decode(url, transport, 4))

    threads = [threading.Thread(target=reader, args=(t,)) for t in ("tcp", "tcp", "udp", "tcp")]
    for t in threads:
        t.start()
    time.sleep(1)
    # Garbage, a huge Content-Length, and a half request that then hangs up.
    for junk in (b"\x00\xffGARBAGE\r\n\r\n" * 50, b"DESCRIBE rtsp://x/multi RTSP/1.0\r\nCSeq: 1\r\n"
                 b"Content-Length: 99999999\r\n\r\n", b"$\x00\xff\xff" + b"A" * 100):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
    for t in threads:
        t.join()
    assert len(results) == 4
    for rc, err, frames in results:
        assert rc == 0 and frames >= 80, err
    assert proc.alive()
    assert "bad input" in proc.output() or "closing" in proc.output()
