"""Recovery after kill -9: camsim cameras are recorded with the index in
SQLite, vigil is killed with SIGKILL mid-segment, a file gets a torn
fragment appended, a closed file disappears, an orphan copy and an
unreadable orphan appear; after a restart every file plays to the end in
ffmpeg without errors, the index rows match the files byte for byte and at
most about the last fragment per camera is lost."""
import glob
import json
import os
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import time

from conftest import free_port, http_get_json, wait_for
from test_e2e import start_camsim
from test_record import decode_errors, probe_frames

FPS = 25


def segments(root, cam):
    return sorted(glob.glob(os.path.join(root, cam, "*/*/*/*/*.mp4")))


def top_boxes(path):
    """(type, offset, size) of the top-level boxes of an MP4 file."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[off:off + 8])
        if size == 1:
            size = struct.unpack(">Q", data[off + 8:off + 16])[0]
        assert size >= 8 and off + size <= len(data), (path, off, size, len(data))
        out.append((kind.decode(), off, size))
        off += size
    assert off == len(data), (path, off, len(data))
    return out


def rows(db_path):
    con = sqlite3.connect(db_path)
    try:
        segs = con.execute("SELECT id, camera, root, path, start_us, end_us, bytes, fragments, closed "
                           "FROM rec_segments ORDER BY id").fetchall()
        frags = {}
        for sid, off, size in con.execute("SELECT segment_id, byte_offset, byte_size FROM rec_fragments "
                                          "ORDER BY segment_id, byte_offset"):
            frags.setdefault(sid, []).append((off, size))
        return segs, frags
    finally:
        con.close()


def frames_received(http_port):
    cams = http_get_json(f"http://127.0.0.1:{http_port}/api/v1/cameras")["cameras"]
    return {c["id"]: c["counters"]["frames"] for c in cams}


def test_kill9_recovery(vigil_bin, start_process, vigil_node, tmp_path):
    sim = start_camsim(start_process, vigil_bin, 2)
    root = str(tmp_path / "rec")
    db = str(tmp_path / "vigil.db")
    cams = ("cam1", "cam2")
    cfg = tmp_path / "kill9.json"
    http = free_port()
    cfg.write_text(json.dumps({
        "http": {"bind": "127.0.0.1", "port": http},
        "auth": {"enabled": False},
        "rtsp_server": {"bind": "127.0.0.1", "port": free_port()},
        "database": {"path": db},
        "record": {"enabled": True, "roots": [{"path": root}], "segment_s": 2, "fragment_ms": 1000},
        "cameras": [{"id": c, "url": f"rtsp://127.0.0.1:{sim}/{c}"} for c in cams]}))
    # Started here rather than by the fixture, which treats a killed vigil as a failure.
    proc = subprocess.Popen([vigil_bin, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all(len(segments(root, c)) >= 3 for c in cams), 40, what="three segments per camera")
        time.sleep(1.5)  # into the middle of a segment
        received = frames_received(http)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    # Damage of the kinds a crash or an operator leaves behind.
    segs, _ = rows(db)
    open_rows = [s for s in segs if not s[8]]
    assert open_rows, "kill -9 mid-segment leaves an unclosed row"
    torn = os.path.join(root, open_rows[0][3])
    with open(torn, "ab") as f:  # a torn fragment: a moof header promising more than is there
        f.write(struct.pack(">I4s", 5000, b"moof") + b"\0" * 100)
    closed_cam1 = [s for s in segs if s[8] and s[1] == "cam1"]
    gone = os.path.join(root, closed_cam1[0][3])
    gone_frames = probe_frames(gone)
    os.unlink(gone)
    src = segments(root, "cam2")[0]
    d = os.path.dirname(src)
    orphan = os.path.join(d, "cam2-20991231T235958Z.mp4")
    shutil.copy(src, orphan)
    junk = os.path.join(d, "cam2-20991231T235959Z.mp4")
    with open(junk, "wb") as f:
        f.write(b"\0\0\0\x10ftypjunk" + b"\x01" * 50)

    # Restart without cameras: recovery runs, nothing new is recorded.
    proc2, _, _ = vigil_node({"database": {"path": db},
                              "record": {"enabled": True, "roots": [{"path": root}], "segment_s": 2}})
    proc2.wait_output("orphan files indexed", 30)
    log = proc2.output()
    assert proc2.stop() == 0
    m = re.search(r"(\d+) unclosed segments checked, (\d+) closed, (\d+) files cut .*?(\d+) rows of missing or "
                  r"empty files deleted, (\d+) orphan files indexed, (\d+) removed", log)
    assert m, log[-3000:]
    checked, closed, cut, deleted, indexed, removed = map(int, m.groups())
    assert checked >= 1 and closed >= 1 and cut >= 1, m.group(0)
    assert deleted >= 1 and indexed == 1 and removed == 1, m.group(0)
    assert not os.path.exists(junk)

    # Every file plays to its end; the index matches the files exactly.
    segs, frags = rows(db)
    by_path = {s[3]: s for s in segs}
    recorded = {c: 0 for c in cams}
    for cam in cams:
        for f in segments(root, cam):
            rel = os.path.relpath(f, root)
            assert rel in by_path, f"{rel} has no index row"
            rc, err = decode_errors(f)
            assert rc == 0 and err == "", (f, err)
            sid, camera, r, _, start_us, end_us, nbytes, nfrag, is_closed = by_path[rel]
            assert (camera, r, is_closed) == (cam, root, 1)
            assert os.path.getsize(f) == nbytes, rel
            boxes = top_boxes(f)
            moofs = [(off, None) for kind, off, _ in boxes if kind == "moof"]
            assert nfrag == len(moofs) == len(frags.get(sid, [])), rel
            assert [o for o, _ in frags.get(sid, [])] == [o for o, _ in moofs], rel
            ends = [o + s for o, s in frags[sid]]
            assert max(ends) == nbytes, rel
            assert end_us > start_us, rel
            if f != orphan:
                recorded[cam] += probe_frames(f)
    assert len(segs) == sum(len(segments(root, c)) for c in cams)
    assert not any(s[3] == os.path.relpath(gone, root) for s in segs)

    # At most about the last fragment per camera is lost: what was received
    # before the first keyframe and in the fragment in progress at the kill.
    recorded["cam1"] += gone_frames
    for cam in cams:
        assert recorded[cam] >= received[cam] - 3 * FPS, (cam, recorded[cam], received[cam])
