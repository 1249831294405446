"""Recording modes and retention, black box: `vigil run` records camsim
cameras; retention deletes by age (keeping a locked range), by quota on a
small tmpfs (usage stays under the high water mark, recording goes on, every
remaining file plays), and frees a full disk so that recording resumes;
intelligent retention stores only keyframes while idle and every frame
during a manual trigger (POST /api/v1/cameras/{id}/record). Also the
routes' answers to bad input."""
import glob
import json
import os
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, http_get, wait_for
from test_e2e import start_camsim

NAME_TIME = re.compile(r"-(\d{8}T\d{6})Z(?:-\d+)?\.mp4$")


def segments(root, cam):
    return sorted(glob.glob(os.path.join(root, cam, "*/*/*/*/*.mp4")))


def file_start(path):
    m = NAME_TIME.search(path)
    return time.mktime(time.strptime(m.group(1), "%Y%m%dT%H%M%S")) - time.timezone if m else None


def plays(path):
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True,
                       timeout=60 * SLOW)
    return r.returncode == 0 and r.stderr.strip() == b"", r.stderr.decode(errors="replace")


def plays_unless_deleted(path):
    """Retention may delete a file between the listing and ffmpeg: that is fine."""
    ok, err = plays(path)
    return ok or not os.path.exists(path), err


def video_packet_flags(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
                        "-of", "csv=p=0", path], capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0, (path, r.stderr)
    return [line.strip() for line in r.stdout.decode().splitlines() if line.strip()]


def request(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def metric(http, name, camera):
    _, _, body = http_get(f"http://127.0.0.1:{http}/metrics")
    for line in body.decode().splitlines():
        if line.startswith(f'{name}{{camera="{camera}"}}'):
            return float(line.split()[-1])
    return 0.0


def tree_bytes(root):
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except FileNotFoundError:
                pass
    return total


@pytest.fixture
def tmpfs(tmp_path):
    mounts = []

    def mount(name, size="16m"):
        path = tmp_path / name
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs ({r.stderr.decode().strip()}); needs root")
        mounts.append(path)
        return str(path)

    yield mount
    for m in mounts:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def config(tmp_path, root, cams, sim, **record):
    rec = {"enabled": True, "segment_s": 2, "fragment_ms": 500, "retention_interval_s": 1}
    rec.update(record)
    if "roots" not in rec:
        rec["root"] = root
    return {"database": {"path": str(tmp_path / "vigil.db")}, "record": rec,
            "cameras": [dict({"id": c, "url": f"rtsp://127.0.0.1:{sim}/{c}"}, **extra) for c, extra in cams]}


def test_record_api_errors(vigil_bin, start_process, vigil_node, tmp_path):
    sim = start_camsim(start_process, vigil_bin, 1)
    _, http, _ = vigil_node(config(tmp_path, str(tmp_path / "rec"), [("cam1", {})], sim))
    base = f"http://127.0.0.1:{http}/api/v1"
    for bad in ({}, {"duration_s": 0}, {"duration_s": 86401}, {"duration_s": "10"}, {"duration_s": 1.5}):
        st, body = request("POST", f"{base}/cameras/cam1/record", bad)
        assert st == 400 and "duration_s" in body["error"]["message"], (bad, st, body)
    st, body = request("POST", f"{base}/cameras/nope/record", {"duration_s": 5})
    assert st == 404, body
    st, body = request("POST", f"{base}/cameras/cam1/record", {"duration_s": 5})
    assert st == 202 and body["camera"] == "cam1" and body["until"].endswith("Z"), body

    # Locks: bad input names the field; then create, list, delete.
    st, body = request("POST", f"{base}/cameras/cam1/locks", {"start": "yesterday", "end": 5, "reason": "x"})
    assert st == 400 and "start" in body["error"]["message"], body
    st, body = request("POST", f"{base}/cameras/cam1/locks", {"start": 100, "end": 50, "reason": "x"})
    assert st == 400 and "end" in body["error"]["message"], body
    st, body = request("POST", f"{base}/cameras/cam1/locks", {"start": 100, "end": 200})
    assert st == 400 and "reason" in body["error"]["message"], body
    st, body = request("POST", f"{base}/cameras/nope/locks", {"start": 100, "end": 200, "reason": "x"})
    assert st == 404, body
    st, lock = request("POST", f"{base}/cameras/cam1/locks",
                       {"start": "2026-01-02T03:04:05Z", "end": "2026-01-02T04:04:05.5+01:00", "reason": "case 7"})
    assert st == 201, lock
    assert lock["start"] == "2026-01-02T03:04:05.000Z" and lock["end"] == "2026-01-02T03:04:05.500Z", lock
    assert lock["until"] is None and lock["active"] is True and lock["reason"] == "case 7"
    st, body = request("GET", f"{base}/cameras/cam1/locks")
    assert st == 200 and [l["id"] for l in body["locks"]] == [lock["id"]], body
    st, _ = request("DELETE", f"{base}/locks/{lock['id']}")
    assert st == 204
    st, _ = request("DELETE", f"{base}/locks/{lock['id']}")
    assert st == 404
    st, body = request("GET", f"{base}/cameras/cam1/locks")
    assert st == 200 and body["locks"] == [], body


def test_retention_by_age_keeps_locked(vigil_bin, start_process, vigil_node, tmp_path):
    sim = start_camsim(start_process, vigil_bin, 1)
    root = str(tmp_path / "rec")
    _, http, _ = vigil_node(config(tmp_path, root, [("cam1", {})], sim, max_age_s=6))
    base = f"http://127.0.0.1:{http}/api/v1"
    wait_for(lambda: len(segments(root, "cam1")) >= 3, 30, what="three segments")
    first = segments(root, "cam1")[0]
    db = sqlite3.connect(str(tmp_path / "vigil.db"))
    start_us, end_us = db.execute("SELECT start_us, end_us FROM rec_segments WHERE root || '/' || path = ?",
                                  (first,)).fetchone()
    db.close()
    # Lock half a second inside the first segment: it must outlive its age.
    st, lock = request("POST", f"{base}/cameras/cam1/locks",
                       {"start": start_us / 1e6 + 0.2, "end": start_us / 1e6 + 0.7, "reason": "evidence"})
    assert st == 201, lock
    early = segments(root, "cam1")[1:]
    # The others go once they are 6 s old (plus a pass).
    wait_for(lambda: not any(os.path.exists(f) for f in early), 40, what="old segments deleted")
    assert os.path.exists(first)
    assert metric(http, "vigil_retention_deleted_segments_total", "cam1") >= len(early)
    assert metric(http, "vigil_retention_deleted_bytes_total", "cam1") > 0
    # Recording goes on, recent footage stays, and the index has no row without its file.
    files = segments(root, "cam1")
    assert len(files) >= 2
    now = time.time()
    for f in files:
        assert f == first or file_start(f) > now - 6 - 2 - 3, (f, now)
        # The oldest listed may reach its age while ffprobe reads the others.
        ok, err = plays_unless_deleted(f)
        assert ok, (f, err)
    db = sqlite3.connect(str(tmp_path / "vigil.db"))
    for root_col, path in db.execute("SELECT root, path FROM rec_segments WHERE camera='cam1'"):
        assert os.path.exists(os.path.join(root_col, path)), path
    db.close()


def test_retention_by_quota_on_tmpfs(vigil_bin, start_process, vigil_node, tmp_path, tmpfs):
    disk = tmpfs("quota")
    sim = start_camsim(start_process, vigil_bin, 1, extra=("--bitrate", "2M"))
    quota = 4 << 20
    _, http, _ = vigil_node(config(tmp_path, disk, [("cam1", {})], sim,
                                   roots=[{"path": disk, "quota_bytes": quota, "high_water": 75, "low_water": 50}]))
    high = quota * 75 // 100
    # Retention runs every second: usage may pass the high water mark by what
    # is written between two passes plus the segment being written (2 s).
    margin = 3 * 2_000_000 // 8
    wait_for(lambda: metric(http, "vigil_retention_deleted_segments_total", "cam1") > 0, 60,
             what="retention by quota")
    peak = 0
    for _ in range(int(10 / 0.25)):
        peak = max(peak, tree_bytes(disk))
        time.sleep(0.25)
    assert peak <= high + margin, (peak, high)
    assert peak < quota
    n_before = len(segments(disk, "cam1"))
    newest = segments(disk, "cam1")[-1]
    wait_for(lambda: segments(disk, "cam1")[-1] != newest, 10, what="recording going on")
    assert n_before >= 3
    for f in segments(disk, "cam1")[:-1]:  # the last one is still being written
        ok, err = plays_unless_deleted(f)
        assert ok, (f, err)


def test_disk_full_frees_space_and_recording_resumes(vigil_bin, start_process, vigil_node, tmp_path, tmpfs):
    disk = tmpfs("full")
    sim = start_camsim(start_process, vigil_bin, 1, extra=("--bitrate", "2M"))
    proc, http, _ = vigil_node(config(tmp_path, disk, [("cam1", {})], sim))
    wait_for(lambda: len(segments(disk, "cam1")) >= 4, 30, what="four segments")
    # Something else fills the disk to the last byte.
    filler = os.path.join(disk, "filler.bin")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    t_full = time.time()
    wait_for(lambda: metric(http, "vigil_retention_deleted_segments_total", "cam1") > 0, 30,
             what="retention freeing space")
    # A segment started after the disk filled, complete and playable.
    def resumed():
        fs = [f for f in segments(disk, "cam1") if file_start(f) > t_full + 1]
        return len(fs) >= 2 and fs

    fresh = wait_for(resumed, 30, what="recording resumed")
    ok, err = plays(fresh[0])
    assert ok, (fresh[0], err)
    assert proc.alive()
    assert os.path.exists(filler)  # retention deletes footage only
    for f in segments(disk, "cam1")[:-1]:
        ok, err = plays_unless_deleted(f)
        assert ok, (f, err)


def test_intelligent_keyframes_idle_full_when_triggered(vigil_bin, start_process, vigil_node, tmp_path):
    sim = start_camsim(start_process, vigil_bin, 1)
    root = str(tmp_path / "rec")
    _, http, _ = vigil_node(config(tmp_path, root, [("cam1", {"record": {"mode": "intelligent", "pre_roll_s": 2, "post_roll_s": 1}})],
                                   sim))
    base = f"http://127.0.0.1:{http}/api/v1"
    wait_for(lambda: len(segments(root, "cam1")) >= 2, 40, what="idle keyframe segments")
    st, body = request("POST", f"{base}/cameras/cam1/record", {"duration_s": 6})
    assert st == 202, body
    # Post-roll, then idle keyframes are written pre_roll_s late; then a 2 s segment closes.
    time.sleep(6 + 1 + 9)
    db = sqlite3.connect(str(tmp_path / "vigil.db"))
    rows = db.execute("SELECT root, path, quality, start_us, end_us FROM rec_segments WHERE camera='cam1' "
                      "AND closed=1 ORDER BY start_us").fetchall()
    db.close()
    qualities = [q for _, _, q, _, _ in rows]
    assert "keyframes" in qualities and "full" in qualities, qualities
    full_frames = 0
    for r, path, quality, _, _ in rows:
        flags = video_packet_flags(os.path.join(r, path))
        assert flags, path
        if quality == "keyframes":
            # Idle: every stored video frame is a keyframe.
            assert all(f.startswith("K") for f in flags), (path, flags)
        else:
            assert any(not f.startswith("K") for f in flags), (path, flags)
            full_frames += len(flags)
    # The trigger's 6 s, the 2 s pre-roll and 1 s post-roll at 25 fps, every frame (within a GOP).
    assert full_frames >= 25 * 8, full_frames
    # Full quality footage is one run: keyframes before it, keyframes after it.
    first_full = qualities.index("full")
    last_full = len(qualities) - 1 - qualities[::-1].index("full")
    assert all(q == "full" for q in qualities[first_full:last_full + 1]), qualities
    assert "keyframes" in qualities[:first_full] and "keyframes" in qualities[last_full + 1:], qualities
    # The manual mark covers the trigger.
    db = sqlite3.connect(str(tmp_path / "vigil.db"))
    marks = db.execute("SELECT kind, start_us, end_us FROM rec_marks WHERE camera='cam1'").fetchall()
    db.close()
    assert [m[0] for m in marks] == ["manual"], marks
    assert marks[0][2] - marks[0][1] >= 9_000_000, marks


def test_events_mode_records_only_around_triggers_with_preroll(vigil_bin, start_process, vigil_node, tmp_path):
    sim = start_camsim(start_process, vigil_bin, 1)
    root = str(tmp_path / "rec")
    _, http, _ = vigil_node(config(tmp_path, root, [("cam1", {"record": {"mode": "events", "pre_roll_s": 2,
                                                                          "post_roll_s": 1}})], sim))
    base = f"http://127.0.0.1:{http}/api/v1"
    wait_for(lambda: http_get(f"{base}/cameras/cam1") and
             json.loads(http_get(f"{base}/cameras/cam1")[2])["state"] == "online", 30, what="camera online")
    time.sleep(4)
    assert segments(root, "cam1") == []  # idle: nothing on disk
    st, body = request("POST", f"{base}/cameras/cam1/record", {"duration_s": 3})
    assert st == 202, body
    t_trigger = time.time()
    time.sleep(3 + 1 + 3)
    db = sqlite3.connect(str(tmp_path / "vigil.db"))
    rows = db.execute("SELECT root, path, quality, start_us, end_us, closed FROM rec_segments "
                      "WHERE camera='cam1' ORDER BY start_us").fetchall()
    db.close()
    assert rows and all(r[2] == "full" and r[5] == 1 for r in rows), rows
    # The recording starts about pre_roll_s before the trigger (from memory,
    # at a keyframe: camsim's GOP is 1 s) and ends after the post-roll.
    start, end = rows[0][3] / 1e6, rows[-1][4] / 1e6
    assert t_trigger - 2 - 1.2 <= start <= t_trigger - 1.5, (start, t_trigger)
    assert t_trigger + 3 + 1 - 0.3 <= end <= t_trigger + 3 + 1 + 1, (end, t_trigger)
    frames = sum(len(video_packet_flags(os.path.join(r[0], r[1]))) for r in rows)
    assert frames >= 25 * (end - start) - 2, (frames, end - start)
    for r in rows:
        ok, err = plays(os.path.join(r[0], r[1]))
        assert ok, (r, err)
