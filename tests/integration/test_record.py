"""Recording: camsim cameras recorded by `vigil run` into fMP4 segment files,
read back by ffprobe and decoded by ffmpeg (real peers), then kill -9 in the
middle of a segment: the unfinished file still plays."""
import glob
import json
import os
import re
import signal
import subprocess
import time

from conftest import SLOW, free_port, wait_for
from test_e2e import start_camsim

NAME = re.compile(r"^(?P<cam>[^/]+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})/(?P=cam)-(\d{4})(\d{2})(\d{2})T(\d{2})\d{4}Z\.mp4$")


def probe_frames(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path],
                       capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0 and r.stderr.strip() == b"", (path, r.stderr)
    codec, w, h, frames = r.stdout.decode().strip().split(",")
    assert (codec, w, h) == ("h264", "320", "240"), path
    return int(frames)


def decode_errors(path):
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True,
                       timeout=60 * SLOW)
    return r.returncode, r.stderr.decode(errors="replace").strip()


def segments(root, cam):
    return sorted(glob.glob(os.path.join(root, cam, "*/*/*/*/*.mp4")))


def test_record_segments_and_kill9(vigil_bin, start_process, vigil_node, tmp_path):
    sim = start_camsim(start_process, vigil_bin, 2)
    root = str(tmp_path / "rec")
    proc, http, _ = vigil_node({
        "record": {"enabled": True, "root": root, "segment_s": 2, "fragment_ms": 1000},
        "cameras": [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim}/cam1"},
                    {"id": "cam2", "url": f"rtsp://127.0.0.1:{sim}/cam2"}]})
    t0 = time.time()
    wait_for(lambda: all(len(segments(root, c)) >= 1 for c in ("cam1", "cam2")), 30, what="first segments")
    time.sleep(7)
    # Stop cleanly: every segment is complete.
    assert proc.stop() == 0
    elapsed = time.time() - t0
    for cam in ("cam1", "cam2"):
        files = segments(root, cam)
        assert len(files) >= 3, files
        total = 0
        for f in files:
            assert NAME.match(os.path.relpath(f, root)), f
            total += probe_frames(f)
            rc, err = decode_errors(f)
            assert rc == 0 and err == "", (f, err)
        # About 25 frames per recorded second: at least the 7 s waited, at most all the time since start.
        assert 25 * 7 * 0.9 <= total <= 25 * elapsed * 1.05 + 25, (cam, total, elapsed)

    # kill -9 in the middle of a segment: the fragments flushed so far play.
    root2 = str(tmp_path / "rec2")
    # Started here rather than by the fixture, which treats a killed vigil as a failure.
    cfg = tmp_path / "kill9.json"
    cfg.write_text(json.dumps({
        "http": {"bind": "127.0.0.1", "port": free_port()},
        "auth": {"enabled": False},
        "rtsp_server": {"bind": "127.0.0.1", "port": free_port()},
        "record": {"enabled": True, "root": root2, "segment_s": 30},
        "database": {"path": str(tmp_path / "kill9.db")},
        "cameras": [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim}/cam1"}]}))
    proc2 = subprocess.Popen([vigil_bin, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: segments(root2, "cam1"), 30, what="a segment")
        time.sleep(3.5)
    finally:
        proc2.send_signal(signal.SIGKILL)
        proc2.wait()
    files = segments(root2, "cam1")
    assert len(files) == 1, files
    frames = probe_frames(files[0])
    assert frames >= 50, frames
    rc, err = decode_errors(files[0])
    assert rc == 0 and err == "", err
