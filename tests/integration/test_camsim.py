"""`vigil camsim` against real RTSP clients (ffprobe, ffmpeg).

camsim serves cam1..camN from one encoded clip; these tests check what a
client sees: codec, size and frame rate in the SDP/stream, pictures that
decode without errors across the clip's loop point with increasing
timestamps, optional audio, and the fault specs that ingest's tests rely on.
Pictures are small (320x240) so that encoding takes a fraction of a second.
"""
import os
import subprocess
import time

import pytest

from conftest import SLOW, ffprobe_streams, free_port

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def run(args, timeout=30):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout * SLOW)


@pytest.fixture
def camsim(vigil_bin, start_process):
    """Starts camsim with extra arguments; returns (proc, base URL)."""

    def start(*args, cameras=3):
        port = free_port()
        proc = start_process([vigil_bin, "camsim", "--port", str(port), "--bind", "127.0.0.1",
                              "--cameras", str(cameras), "--size", "320x240", "--fps", "25",
                              "--gop", "25", "--bitrate", "300k", "--duration-s", "2", "--workers", "2",
                              *args], "camsim")
        proc.wait_output("camsim: serving", timeout=30)
        return proc, f"rtsp://127.0.0.1:{port}"

    return start


def video_stream(streams):
    v = [s for s in streams if s["codec_type"] == "video"]
    assert len(v) == 1, streams
    return v[0]


def decode_frames(url, seconds, extra=(), timeout=30, copy=False):
    """Decodes (or with copy, only receives) `seconds` of url's video with
    ffmpeg; returns (returncode, stderr, pts list). Copied packets keep the
    stream's 1/90000 time base."""
    codec = ["-c", "copy"] if copy else ["-fps_mode", "passthrough"]
    r = run(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", *extra, "-i", url,
             "-t", str(seconds), "-map", "0:v", *codec, "-f", "framemd5", "-"], timeout)
    pts = [int(line.split(",")[1]) for line in r.stdout.splitlines()
           if line and not line.startswith("#")]
    return r.returncode, r.stderr, pts


def test_help_and_bad_options(vigil_bin):
    r = run([vigil_bin, "camsim", "--help"])
    assert r.returncode == 0
    assert "usage: vigil camsim" in r.stdout and "--fault" in r.stdout
    for bad in (["--size", "321x240"], ["--codec", "vp8"], ["--fault", "cam1:explode"],
                ["--bitrate", "fast"], ["--cameras", "0"], ["--audio", "mp3"]):
        r = run([vigil_bin, "camsim", *bad])
        assert r.returncode == 2, (bad, r.stderr)
        assert "camsim" in r.stderr


def test_ready_line_names_the_cameras(camsim):
    proc, base = camsim(cameras=5)
    assert f"camsim: serving 5 cameras at {base}/cam1..cam5" in proc.output()


def test_h264_stream_is_described_right(camsim):
    _, base = camsim()
    for cam in ("cam1", "cam3"):
        v = video_stream(ffprobe_streams(f"{base}/{cam}"))
        assert v["codec_name"] == "h264"
        assert (v["width"], v["height"]) == (320, 240)
        assert v["r_frame_rate"] == "25/1", v
    # Cameras are numbered 1..N: there is no cam0 and no cam4.
    for cam in ("cam0", "cam4"):
        with pytest.raises(RuntimeError):
            ffprobe_streams(f"{base}/{cam}", timeout=10)


def test_h265_stream_is_described_right(camsim):
    _, base = camsim("--codec", "h265", cameras=2)
    v = video_stream(ffprobe_streams(f"{base}/cam2"))
    assert v["codec_name"] == "hevc"
    assert (v["width"], v["height"]) == (320, 240)
    assert v["r_frame_rate"] == "25/1", v


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_decodes_across_the_loop_without_errors(camsim, codec):
    # The clip is 2 s long; 3.5 s of decoding crosses at least one loop point.
    _, base = camsim("--codec", codec, cameras=1)
    rc, err, pts = decode_frames(f"{base}/cam1", 3.5)
    assert rc == 0, err
    assert err.strip() == "", err
    assert len(pts) >= 80, len(pts)
    assert all(b >= a for a, b in zip(pts, pts[1:])), pts
    # The packets' own timestamps, in RTP's 1/90000: one frame is 3600 at
    # 25 fps, also where the clip wraps.
    rc, err, pts = decode_frames(f"{base}/cam1", 3.5, copy=True)
    assert rc == 0 and len(pts) >= 80, err
    # ffmpeg's RTP demuxer gives the very first packet no timestamp of its
    # own (it shows as a repeat of the next one's), so steps count from there.
    steps = [b - a for a, b in zip(pts[1:], pts[2:])]
    assert all(s == 3600 for s in steps), steps


@pytest.mark.parametrize("audio,codec_name,rate", [("aac", "aac", "16000"), ("pcmu", "pcm_mulaw", "8000")])
def test_audio_track(camsim, audio, codec_name, rate):
    _, base = camsim("--audio", audio, cameras=1)
    streams = ffprobe_streams(f"{base}/cam1")
    a = [s for s in streams if s["codec_type"] == "audio"]
    assert len(a) == 1, streams
    assert a[0]["codec_name"] == codec_name
    assert a[0]["sample_rate"] == rate
    r = run(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", f"{base}/cam1",
             "-t", "2", "-f", "null", "-"])
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


@pytest.mark.skipif(not os.path.exists(VTEST), reason="opencv-doc's vtest.avi is not installed")
def test_file_source(camsim):
    _, base = camsim("--source", VTEST, cameras=1)
    v = video_stream(ffprobe_streams(f"{base}/cam1"))
    assert (v["codec_name"], v["width"], v["height"]) == ("h264", 320, 240)
    rc, err, pts = decode_frames(f"{base}/cam1", 2)
    assert rc == 0 and err.strip() == "", err
    assert len(pts) >= 45


def test_fault_refuse_fails_fast(camsim):
    _, base = camsim("--fault", "cam2:refuse")
    t0 = time.monotonic()
    with pytest.raises(RuntimeError):
        ffprobe_streams(f"{base}/cam2", timeout=15)
    assert time.monotonic() - t0 < 5 * SLOW
    # Only that camera refuses.
    assert video_stream(ffprobe_streams(f"{base}/cam1"))["codec_name"] == "h264"


def test_fault_auth(camsim):
    _, base = camsim("--fault", "cam3:auth=alice:s3cret")
    host = base[len("rtsp://"):]
    with pytest.raises(RuntimeError) as e:
        ffprobe_streams(f"{base}/cam3", timeout=15)
    assert "401" in str(e.value) or "Unauthorized" in str(e.value), e.value
    with pytest.raises(RuntimeError):
        ffprobe_streams(f"rtsp://alice:wrong@{host}/cam3", timeout=15)
    v = video_stream(ffprobe_streams(f"rtsp://alice:s3cret@{host}/cam3"))
    assert v["codec_name"] == "h264"
    # The other cameras stay open.
    assert video_stream(ffprobe_streams(f"{base}/cam1"))["codec_name"] == "h264"


def test_fault_drop_ends_the_session(camsim):
    _, base = camsim("--fault", "cam1:drop=1500")
    t0 = time.monotonic()
    _, _, pts = decode_frames(f"{base}/cam1", 6)
    elapsed = time.monotonic() - t0
    # About 1.5 s of pictures, then the server hangs up, well before 6 s.
    assert 15 <= len(pts) <= 60, len(pts)
    assert elapsed < 5.5 * SLOW


def test_fault_stall_stops_media(camsim):
    _, base = camsim("--fault", "cam1:stall=1000")
    t0 = time.monotonic()
    # ffmpeg's -timeout (microseconds) gives up on a connection that sends nothing.
    _, _, pts = decode_frames(f"{base}/cam1", 6, extra=("-timeout", "2000000"), timeout=30)
    # What PLAY finds cached since the last keyframe (up to a GOP, 25
    # frames), then 1 s of live frames (25) and the timer's lag under load;
    # far from the 150 frames of the 6 s asked for.
    assert len(pts) <= 25 + 25 + 3 * SLOW, len(pts)
    assert time.monotonic() - t0 < 15 * SLOW


def test_fault_malformed_packets_do_not_stop_the_stream(camsim):
    proc, base = camsim("--fault", "cam1:malformed=10")
    rc, err, pts = decode_frames(f"{base}/cam1", 2)
    # The client sees damage (every 10th packet is garbage) but the server keeps going.
    assert len(pts) >= 20, (len(pts), err)
    assert proc.alive()
    # An undamaged camera next to it decodes cleanly.
    rc, err, pts = decode_frames(f"{base}/cam2", 2)
    assert rc == 0 and err.strip() == "", err


def test_many_cameras_and_clean_exit(camsim):
    proc, base = camsim(cameras=200)
    for cam in ("cam1", "cam100", "cam200"):
        assert video_stream(ffprobe_streams(f"{base}/{cam}"))["codec_name"] == "h264"
    proc.p.send_signal(2)  # SIGINT
    assert proc.p.wait(20 * SLOW) == 0, proc.output()[-2000:]
