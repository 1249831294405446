"""Black-box tests of SRT ingest: ffmpeg publishes MPEG-TS over SRT into
vigil's listener (H.264 + AAC, H.265; plain and access-control stream ids;
passphrases), vigil pulls from an SRT listener as a caller camera, and ffprobe
reads every stream back over vigil's RTSP server. Garbage on one connection
closes only that connection."""
import os
import socket
import subprocess
import time
from urllib.parse import quote

import pytest

from conftest import SLOW, ffprobe_streams, free_port, http_get, http_get_json, wait_for

SECRET = "correct-horse-battery"


def ffmpeg_ts(codec="h264", audio=True, seconds=30, size="320x240"):
    """ffmpeg arguments that encode a live test pattern to MPEG-TS."""
    args = ["ffmpeg", "-hide_banner", "-v", "error", "-re", "-f", "lavfi", "-i",
            f"testsrc=size={size}:rate=25"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=sample_rate=48000"]
    args += ["-t", str(seconds), "-pix_fmt", "yuv420p"]
    if codec == "h264":
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25"]
    else:
        args += ["-c:v", "libx265", "-preset", "ultrafast", "-g", "25", "-x265-params", "log-level=error"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    return args + ["-f", "mpegts"]


def start_vigil(vigil_node, srt=None, cameras=()):
    srt_port = free_port()
    cfg = {"srt_server": {"enabled": True, "bind": "127.0.0.1", "port": srt_port, **(srt or {})},
           "cameras": list(cameras)}
    proc, http_port, rtsp_port = vigil_node(cfg)
    return proc, http_port, rtsp_port, srt_port


def cameras(http_port):
    return {c["id"]: c for c in http_get_json(f"http://127.0.0.1:{http_port}/api/v1/cameras")["cameras"]}


def wait_online(http_port, cam_id, timeout=20):
    return wait_for(lambda: cameras(http_port).get(cam_id, {}).get("state") == "online" and
                    cameras(http_port)[cam_id], timeout, what=f"camera {cam_id} online")


def wait_tracks(rtsp_port, cam_id, want):
    """ffprobe over vigil's RTSP server until it sees want codecs."""
    def probe():
        streams = ffprobe_streams(f"rtsp://127.0.0.1:{rtsp_port}/{cam_id}")
        return streams if sorted(s["codec_name"] for s in streams) == sorted(want) else None
    return wait_for(probe, 30, interval=1, what=f"{want} from rtsp {cam_id}")


def test_publish_h264_aac_restreamed(vigil_node, start_process):
    proc, http_port, rtsp_port, srt_port = start_vigil(vigil_node)
    start_process(ffmpeg_ts() + [f"srt://127.0.0.1:{srt_port}?streamid=cam1"], "ffmpeg")
    cam = wait_online(http_port, "cam1")
    assert cam["type"] == "push"
    assert cam["url"] == "srt://publisher/cam1"
    streams = wait_tracks(rtsp_port, "cam1", ["aac", "h264"])
    video = [s for s in streams if s["codec_name"] == "h264"][0]
    audio = [s for s in streams if s["codec_name"] == "aac"][0]
    assert (video["width"], video["height"]) == (320, 240)
    assert int(audio["sample_rate"]) == 48000
    # The stream decodes: ffmpeg reads two seconds of pictures back.
    out = subprocess.run(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                          f"rtsp://127.0.0.1:{rtsp_port}/cam1", "-t", "2", "-map", "0:v", "-f", "null", "-"],
                         capture_output=True, timeout=30 * SLOW)
    assert out.returncode == 0, out.stderr[-800:]
    _, _, body = http_get(f"http://127.0.0.1:{http_port}/metrics")
    text = body.decode()
    assert "vigil_srt_connections 1" in text
    assert "vigil_srt_received_bytes_total" in text
    # A second publisher for the same name is refused in the handshake.
    second = subprocess.run(ffmpeg_ts(seconds=2, audio=False) + [f"srt://127.0.0.1:{srt_port}?streamid=cam1"],
                            capture_output=True, timeout=30 * SLOW)
    assert second.returncode != 0
    assert cameras(http_port)["cam1"]["state"] == "online"


def test_publish_h265_with_access_control_streamid(vigil_node, start_process):
    proc, http_port, rtsp_port, srt_port = start_vigil(vigil_node)
    start_process(ffmpeg_ts("h265", audio=False, size="352x288") +
                  [f"srt://127.0.0.1:{srt_port}?streamid={quote('#!::r=door,m=publish', safe='')}"], "ffmpeg")
    wait_online(http_port, "door")
    streams = wait_tracks(rtsp_port, "door", ["hevc"])
    assert (streams[0]["width"], streams[0]["height"]) == (352, 288)
    # A reader's mode (m=request) is not served.
    req = subprocess.run(ffmpeg_ts(seconds=2, audio=False) +
                         [f"srt://127.0.0.1:{srt_port}?streamid={quote('#!::r=other,m=request', safe='')}"],
                         capture_output=True, timeout=30 * SLOW)
    assert req.returncode != 0
    assert "other" not in cameras(http_port)


def test_passphrase(vigil_node, start_process):
    proc, http_port, rtsp_port, srt_port = start_vigil(vigil_node, {"passphrase": SECRET})
    for bad in ("", "?passphrase=wrong-password-123"):
        sep = "&" if bad else "?"
        r = subprocess.run(ffmpeg_ts(seconds=2, audio=False) +
                           [f"srt://127.0.0.1:{srt_port}{bad}{sep}streamid=vault"],
                           capture_output=True, timeout=30 * SLOW)
        assert r.returncode != 0
    assert "vault" not in cameras(http_port)
    start_process(ffmpeg_ts(audio=False) + [f"srt://127.0.0.1:{srt_port}?streamid=vault&passphrase={SECRET}"],
                  "ffmpeg")
    wait_online(http_port, "vault")
    wait_tracks(rtsp_port, "vault", ["h264"])


def test_caller_pulls_from_ffmpeg_listener(vigil_node, start_process):
    port = free_port()
    # ffmpeg listens and waits for vigil to call.
    start_process(ffmpeg_ts(seconds=60) + [f"srt://127.0.0.1:{port}?mode=listener&passphrase={SECRET}"],
                  "ffmpeg")
    cam = {"id": "pull", "url": f"srt://127.0.0.1:{port}?passphrase={SECRET}&latency=80",
           "backoff_min_ms": 200, "backoff_max_ms": 1000}
    proc, http_port, rtsp_port, _ = start_vigil(vigil_node, cameras=[cam])
    info = wait_online(http_port, "pull")
    assert info["type"] == "srt"
    assert SECRET not in info["url"] and "passphrase=***" in info["url"]
    streams = wait_tracks(rtsp_port, "pull", ["aac", "h264"])
    assert any(s.get("width") == 320 for s in streams)


def test_caller_through_srt_live_transmit_and_reconnect(vigil_node, start_process):
    udp_port, srt_port = free_port(), free_port()
    slt = start_process(["srt-live-transmit", "-q", f"udp://127.0.0.1:{udp_port}",
                         f"srt://127.0.0.1:{srt_port}?mode=listener"], "slt")
    cam = {"id": "relay", "url": f"srt://127.0.0.1:{srt_port}", "read_timeout_ms": 2000,
           "backoff_min_ms": 200, "backoff_max_ms": 1000}
    proc, http_port, rtsp_port, _ = start_vigil(vigil_node, cameras=[cam])
    start_process(ffmpeg_ts("h265", audio=False, seconds=60) + [f"udp://127.0.0.1:{udp_port}?pkt_size=1316"],
                  "ffmpeg")
    wait_online(http_port, "relay", 30)
    wait_tracks(rtsp_port, "relay", ["hevc"])
    # The relay goes away: the camera goes offline, and comes back with it.
    slt.p.terminate()
    slt.p.wait(10)
    wait_for(lambda: cameras(http_port)["relay"]["state"] != "online", 20, what="relay camera offline")
    start_process(["srt-live-transmit", "-q", f"udp://127.0.0.1:{udp_port}",
                   f"srt://127.0.0.1:{srt_port}?mode=listener"], "slt2")
    wait_online(http_port, "relay", 30)
    assert cameras(http_port)["relay"]["counters"]["reconnects"] >= 1


def test_garbage_closes_only_that_connection(vigil_node, start_process):
    proc, http_port, rtsp_port, srt_port = start_vigil(vigil_node)
    start_process(ffmpeg_ts(audio=False) + [f"srt://127.0.0.1:{srt_port}?streamid=good"], "ffmpeg")
    wait_online(http_port, "good")
    # srt-live-transmit relays UDP datagrams of random bytes to vigil.
    udp_port = free_port()
    slt = start_process(["srt-live-transmit", "-q", f"udp://127.0.0.1:{udp_port}",
                         f"srt://127.0.0.1:{srt_port}?streamid=junk"], "slt")
    proc.wait_output("srt[junk] publisher connected", 20)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(200):
            s.sendto(os.urandom(1316), ("127.0.0.1", udp_port))
            time.sleep(0.002)
    proc.wait_output("not MPEG-TS", 20)
    assert cameras(http_port)["good"]["state"] == "online"
    wait_tracks(rtsp_port, "good", ["h264"])
    # srt-live-transmit reconnects after being dropped; once it is gone, only
    # the good publisher is left.
    slt.p.terminate()
    slt.p.wait(10)
    wait_for(lambda: "vigil_srt_connections 1\n" in http_get(f"http://127.0.0.1:{http_port}/metrics")[2].decode(),
             10, what="one SRT connection left")
    assert "vigil_mpegts_errors_total 0" not in http_get(f"http://127.0.0.1:{http_port}/metrics")[2].decode()
