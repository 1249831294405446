"""End to end: simulated cameras (vigil camsim) ingested by a vigil node,
restreamed, and read back by real ffmpeg and ffprobe.

camsim -> vigil run (RTSP client, TCP and UDP, Digest auth, faults) -> hub
       -> vigil's RTSP server -> ffprobe / ffmpeg
The node's API and /metrics show what a user would look at.
"""
import subprocess
import time

import pytest

from conftest import (SLOW, ffprobe_streams, free_port, http_get, http_get_json, wait_for)


def start_camsim(start_process, vigil_bin, cameras, codec="h264", size="320x240", fps=25, faults=(),
                 extra=()):
    port = free_port()
    args = [vigil_bin, "camsim", "--bind", "127.0.0.1", "--port", str(port), "--cameras", str(cameras),
            "--codec", codec, "--size", size, "--fps", str(fps), "--bitrate", "300k", "--gop", "25",
            "--duration-s", "2", "--workers", "1", *extra]
    for f in faults:
        args += ["--fault", f]
    sim = start_process(args, "camsim")
    sim.wait_output("camsim: serving", 120)
    return port


def cameras_by_id(http_port):
    return {c["id"]: c for c in http_get_json(f"http://127.0.0.1:{http_port}/api/v1/cameras")["cameras"]}


def decode_errors(url, seconds=3, transport="tcp"):
    """Decodes `seconds` of url with ffmpeg; returns (returncode, stderr)."""
    r = subprocess.run(["ffmpeg", "-v", "error", "-rtsp_transport", transport, "-i", url, "-t", str(seconds),
                        "-f", "null", "-"], capture_output=True, timeout=60 * SLOW)
    return r.returncode, r.stderr.decode(errors="replace")


def test_ingest_tcp_udp_auth_and_restream(vigil_bin, start_process, vigil_node):
    sim = start_camsim(start_process, vigil_bin, 3, faults=["cam3:auth=viewer:s3cr%t"])
    proc, http, rtsp = vigil_node({"cameras": [
        {"id": "tcp", "url": f"rtsp://127.0.0.1:{sim}/cam1"},
        {"id": "udp", "url": f"rtsp://127.0.0.1:{sim}/cam2", "transport": "udp"},
        {"id": "auth", "url": f"rtsp://viewer:s3cr%25t@127.0.0.1:{sim}/cam3"},
        {"id": "badauth", "url": f"rtsp://viewer:hunter2@127.0.0.1:{sim}/cam3"},
    ]})
    wait_for(lambda: all(cameras_by_id(http)[c]["state"] == "online" for c in ("tcp", "udp", "auth")),
             30, what="three cameras online")
    cams = cameras_by_id(http)
    for cid in ("tcp", "udp", "auth"):
        t = cams[cid]["tracks"][0]
        assert (t["codec"], t["width"], t["height"]) == ("H264", 320, 240), cams[cid]
        assert abs(t["fps"] - 25) < 0.01
    # Credentials never appear in the API.
    assert "s3cr" not in str(cams) and "hunter2" not in str(cams)
    bad = wait_for(lambda: (c := cameras_by_id(http)["badauth"])["state"] == "offline" and c, 20,
                   what="wrong credentials to be reported")
    assert "auth" in (bad["reason"] or "").lower()
    # Frames keep arriving on each transport.
    before = cameras_by_id(http)
    time.sleep(2)
    after = cameras_by_id(http)
    for cid in ("tcp", "udp", "auth"):
        assert after[cid]["counters"]["frames"] > before[cid]["counters"]["frames"] + 20, cid
        assert after[cid]["counters"]["rtp_lost"] == 0, cid
    # The restream is the camera's own stream: codec, size and rate, decodable.
    for transport in ("tcp", "udp"):
        streams = ffprobe_streams(f"rtsp://127.0.0.1:{rtsp}/tcp", transport)
        v = [s for s in streams if s["codec_type"] == "video"][0]
        assert (v["codec_name"], v["width"], v["height"]) == ("h264", 320, 240)
        assert v["r_frame_rate"] == "25/1"
        rc, err = decode_errors(f"rtsp://127.0.0.1:{rtsp}/udp", 3, transport)
        assert rc == 0 and err.strip() == "", err


def test_h265_camera_restreamed(vigil_bin, start_process, vigil_node):
    sim = start_camsim(start_process, vigil_bin, 1, codec="h265", size="640x360", fps=15)
    proc, http, rtsp = vigil_node({"cameras": [{"id": "street", "url": f"rtsp://127.0.0.1:{sim}/cam1"}]})
    wait_for(lambda: cameras_by_id(http)["street"]["state"] == "online", 30, what="H.265 camera online")
    t = cameras_by_id(http)["street"]["tracks"][0]
    assert (t["codec"], t["width"], t["height"]) == ("H265", 640, 360)
    streams = ffprobe_streams(f"rtsp://127.0.0.1:{rtsp}/street")
    v = [s for s in streams if s["codec_type"] == "video"][0]
    assert (v["codec_name"], v["width"], v["height"], v["r_frame_rate"]) == ("hevc", 640, 360, "15/1")
    rc, err = decode_errors(f"rtsp://127.0.0.1:{rtsp}/street", 3)
    assert rc == 0 and err.strip() == "", err


def test_flapping_and_malformed_cameras_do_not_hurt_others(vigil_bin, start_process, vigil_node):
    sim = start_camsim(start_process, vigil_bin, 4, faults=["cam2:drop=1500", "cam3:malformed=5", "cam4:stall=1500"])
    proc, http, rtsp = vigil_node({"cameras": [
        {"id": "steady", "url": f"rtsp://127.0.0.1:{sim}/cam1"},
        {"id": "flappy", "url": f"rtsp://127.0.0.1:{sim}/cam2", "backoff_min_ms": 100, "backoff_max_ms": 400},
        {"id": "garbage", "url": f"rtsp://127.0.0.1:{sim}/cam3"},
        {"id": "stalled", "url": f"rtsp://127.0.0.1:{sim}/cam4", "read_timeout_ms": 1000,
         "backoff_min_ms": 100, "backoff_max_ms": 400},
    ]})
    wait_for(lambda: cameras_by_id(http)["steady"]["state"] == "online", 30, what="steady camera online")
    wait_for(lambda: cameras_by_id(http)["flappy"]["counters"]["reconnects"] >= 2, 30,
             what="the flapping camera to reconnect twice")
    wait_for(lambda: cameras_by_id(http)["stalled"]["counters"]["reconnects"] >= 1, 30,
             what="the stalled camera to be detected and reconnected")
    cams = cameras_by_id(http)
    assert "no media" in (cams["stalled"]["last_error"] or ""), cams["stalled"]
    f0 = cams["steady"]["counters"]["frames"]
    time.sleep(3)
    cams = cameras_by_id(http)
    steady = cams["steady"]
    assert steady["state"] == "online"
    assert steady["counters"]["frames"] > f0 + 50
    assert steady["counters"]["reconnects"] == 0
    assert steady["counters"]["errors"] == 0
    assert cams["garbage"]["counters"]["errors"] > 0
    assert proc.alive()
    # The restream of the steady camera is unaffected.
    rc, err = decode_errors(f"rtsp://127.0.0.1:{rtsp}/steady", 2)
    assert rc == 0 and err.strip() == "", err


def test_publish_into_vigil_then_read(vigil_bin, start_process, vigil_node):
    proc, http, rtsp = vigil_node({"cameras": []})
    pub = start_process(["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=352x288:rate=25",
                         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-f", "rtsp",
                         f"rtsp://127.0.0.1:{rtsp}/pushed"], "ffmpeg-publish")
    cam = wait_for(lambda: (c := cameras_by_id(http).get("pushed")) and c["state"] == "online" and c, 30,
                   what="the published stream to become a camera")
    assert cam["type"] == "push"
    streams = ffprobe_streams(f"rtsp://127.0.0.1:{rtsp}/pushed")
    v = [s for s in streams if s["codec_type"] == "video"][0]
    assert (v["codec_name"], v["width"], v["height"]) == ("h264", 352, 288)
    assert pub.alive()


def test_metrics_have_camera_and_rtsp_families(vigil_bin, start_process, vigil_node):
    sim = start_camsim(start_process, vigil_bin, 1)
    proc, http, rtsp = vigil_node({"cameras": [
        {"id": "cam", "url": f"rtsp://127.0.0.1:{sim}/cam1"},
        {"id": "gone", "url": "rtsp://127.0.0.1:1/none"},
    ]})
    wait_for(lambda: cameras_by_id(http)["cam"]["state"] == "online", 30, what="camera online")
    reader = subprocess.Popen(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                               f"rtsp://127.0.0.1:{rtsp}/cam", "-t", "20", "-c", "copy", "-f", "null", "-"])
    try:
        def sample(name, labels=""):
            _, _, body = http_get(f"http://127.0.0.1:{http}/metrics")
            for line in body.decode().splitlines():
                if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
                    return float(line.split()[-1])
            return None
        wait_for(lambda: sample("vigil_rtsp_sessions") == 1, 15, what="one RTSP session in /metrics")
        assert sample("vigil_camera_up", '{camera="cam"}') == 1
        assert sample("vigil_camera_up", '{camera="gone"}') == 0
        assert sample("vigil_camera_frames_total", '{camera="cam"}') > 0
        assert sample("vigil_camera_bytes_total", '{camera="cam"}') > 0
        assert sample("vigil_camera_rtp_packets_lost_total", '{camera="cam"}') == 0
        assert sample("vigil_camera_reconnects_total", '{camera="gone"}') >= 0
        p50 = wait_for(lambda: sample("vigil_rtsp_egress_latency_seconds", '{quantile="0.5"}'), 15,
                       what="an egress latency figure")
        assert 0 < p50 < 0.05
    finally:
        reader.kill()
        reader.wait()
