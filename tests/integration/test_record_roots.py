"""Storage roots: cameras pinned to a root and unpinned ones spread over the
others; a root on a small tmpfs fills up (vigil keeps running, every file on
it plays, its cameras go on recording on another root); a root that
disappears is marked down on /metrics, recording moves to the others, and it
comes back when its directory is there again."""
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pytest

from conftest import http_get, wait_for
from test_e2e import start_camsim
from test_record import decode_errors

CAMS = ("cam1", "cam2", "cam3", "cam4")


def files(root, cam="*"):
    return sorted(glob.glob(os.path.join(root, cam, "*/*/*/*/*.mp4")))


def metric(http_port, name, root):
    text = http_get(f"http://127.0.0.1:{http_port}/metrics")[2].decode()
    m = re.search(r'^%s\{root="%s"\} (\d+)' % (re.escape(name), re.escape(root)), text, re.M)
    return int(m.group(1)) if m else None


@pytest.fixture
def small_root(tmp_path):
    path = tmp_path / "small"
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode().strip()}")
    try:
        # Leave about 700 KB free so that two 300 kbit/s cameras fill it in seconds.
        with open(path / "filler", "wb") as f:
            f.write(b"\0" * (8 * 1024 * 1024 - 700 * 1024))
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)])


def test_roots_spread_full_and_gone(vigil_bin, start_process, vigil_node, tmp_path, small_root):
    sim = start_camsim(start_process, vigil_bin, 4)
    big1, big2 = str(tmp_path / "big1"), str(tmp_path / "big2")
    db = str(tmp_path / "vigil.db")
    cameras = [{"id": c, "url": f"rtsp://127.0.0.1:{sim}/{c}"} for c in CAMS]
    cameras[0]["record"] = {"root": small_root}
    cameras[1]["record"] = {"root": small_root}
    proc, http, _ = vigil_node({
        "database": {"path": db},
        # Retention would free the tmpfs (that is tested with retention); here it waits an hour.
        "record": {"enabled": True, "segment_s": 2, "fragment_ms": 500, "root_retry_s": 1,
                   "retention_interval_s": 3600,
                   "roots": [{"path": big1}, {"path": big2}, {"path": small_root, "quota_bytes": 8000000}]},
        "cameras": cameras})

    # Pinned cameras on the small root; the two others one per big root.
    wait_for(lambda: files(small_root, "cam1") and files(small_root, "cam2"), 30, what="segments on the tmpfs")
    wait_for(lambda: {bool(files(big1, c)) for c in ("cam3", "cam4")} == {True, False} and
             {bool(files(big2, c)) for c in ("cam3", "cam4")} == {True, False}, 30, what="cam3/cam4 spread")

    # The tmpfs fills up: marked full, the pinned cameras move on.
    wait_for(lambda: metric(http, "vigil_storage_root_full", small_root) == 1, 60, what="the tmpfs full")
    assert metric(http, "vigil_storage_free_bytes", small_root) < 1024 * 1024
    moved_at = time.time()
    wait_for(lambda: all(files(big1, c) or files(big2, c) for c in ("cam1", "cam2")), 30,
             what="cam1/cam2 recording on a big root")
    assert proc.alive()
    out = proc.output()
    assert out.count("is full") == 1, out[-3000:]  # once per episode, not per GOP

    # big2 disappears: down on /metrics, its camera moves, it comes back.
    shutil.rmtree(big2)
    wait_for(lambda: metric(http, "vigil_storage_root_up", big2) == 0, 30, what="big2 down")
    count_big1 = {c: len(files(big1, c)) for c in CAMS}
    wait_for(lambda: sum(len(files(big1, c)) > count_big1[c] for c in CAMS) >= 3, 30,
             what="every camera recording on big1")
    os.mkdir(big2)
    wait_for(lambda: metric(http, "vigil_storage_root_up", big2) == 1, 30, what="big2 back")
    assert metric(http, "vigil_storage_root_failures_total", big2) == 1
    assert time.time() - moved_at < 120
    assert proc.stop() == 0

    # No corrupted file anywhere, the tmpfs included; the index agrees.
    con = sqlite3.connect(db)
    indexed = {os.path.join(r, p): (b, c) for r, p, b, c in
               con.execute("SELECT root, path, bytes, closed FROM rec_segments")}
    con.close()
    all_files = files(small_root) + files(big1) + files(big2)
    assert files(small_root)
    for f in all_files:
        rc, err = decode_errors(f)
        assert rc == 0 and err == "", (f, err)
        assert f in indexed, f
        assert indexed[f] == (os.path.getsize(f), 1), f
