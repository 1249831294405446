"""Intelligent retention, black box: idle keyframes-only footage plays in
real time (each keyframe lasts until the next one, so ffprobe's duration is
the wall-clock time the segment covers), and a camera with a low-resolution
substream records every frame of the substream while idle and the main
stream at full quality during a manual trigger; a VOD range across idle and
active periods plays through both resolutions, and a clip over it plays up
to the change of resolution, which it names (X-Vigil-Clip-Cut)."""
import json
import os
import sqlite3
import subprocess
import time
import urllib.request

from conftest import SLOW, wait_for
from test_e2e import start_camsim
from test_retention import config, request, segments

GOP_S = 1.0  # start_camsim: --gop 25 at 25 fps


def rows(tmp_path, cam):
    db = sqlite3.connect(str(tmp_path / "vigil.db"))
    out = db.execute("SELECT root, path, quality, start_us, end_us FROM rec_segments WHERE camera=? AND closed=1 "
                     "ORDER BY start_us", (cam,)).fetchall()
    db.close()
    return out


def probe(path):
    """(format duration, video width, [(pts_time, duration_time, flags) of the video packets])."""
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "format=duration:stream=width:packet=pts_time,duration_time,flags", "-of", "json", path],
                       capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0, (path, r.stderr)
    info = json.loads(r.stdout)
    packets = [(float(p["pts_time"]), float(p["duration_time"]), p["flags"]) for p in info["packets"]]
    return float(info["format"]["duration"]), info["streams"][0]["width"], packets


def sample_durations(path):
    """Durations in seconds of the first track's samples, from the file's mdhd and trun boxes (what MSE and
    players take a sample's duration from; ffprobe's packet durations come from the frame rate)."""
    data = open(path, "rb").read()
    timescale, out = None, []

    def walk(at, end):
        nonlocal timescale, track
        while at + 8 <= end:
            size, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
            if size < 8:
                return
            if kind in (b"moov", b"trak", b"mdia", b"moof", b"traf"):
                walk(at + 8, at + size)
            elif kind == b"mdhd" and timescale is None:
                timescale = int.from_bytes(data[at + 20:at + 24], "big")  # version 0
            elif kind == b"tfhd":
                track = int.from_bytes(data[at + 12:at + 16], "big")
            elif kind == b"trun" and track == 1:
                count = int.from_bytes(data[at + 12:at + 16], "big")
                for i in range(count):  # data offset, then (duration, size, flags) per sample
                    out.append(int.from_bytes(data[at + 20 + 12 * i:at + 24 + 12 * i], "big"))
            at += size

    track = 0
    walk(0, len(data))
    return [d / timescale for d in out]


def test_idle_keyframes_play_in_real_time(vigil_bin, start_process, vigil_node, tmp_path):
    sim = start_camsim(start_process, vigil_bin, 1)
    root = str(tmp_path / "rec")
    vigil_node(config(tmp_path, root, [("cam1", {"record": {"mode": "intelligent", "pre_roll_s": 1}})], sim,
                      segment_s=6))
    wait_for(lambda: any(q == "keyframes" for _, _, q, _, _ in rows(tmp_path, "cam1")), 60,
             what="a closed keyframes segment")
    checked = 0
    for r, path, quality, start_us, end_us in rows(tmp_path, "cam1"):
        if quality != "keyframes":
            continue
        duration, _, packets = probe(os.path.join(r, path))
        wall = (end_us - start_us) / 1e6
        assert len(packets) >= 5 and all(f.startswith("K") for _, _, f in packets), packets
        # Each keyframe lasts until the next one (a GOP), not one frame time.
        durations = sample_durations(os.path.join(r, path))
        assert len(durations) == len(packets) and all(abs(d - GOP_S) < 0.1 for d in durations), durations
        # The file plays for the wall-clock time it covers (within what the index start may be moved
        # forward so as not to overlap the previous segment; one frame time per keyframe would be 0.96 s
        # short here).
        assert abs(duration - wall) < 0.4, (duration, wall)
        assert duration >= 5 * GOP_S - 0.1, duration
        checked += 1
    assert checked >= 1


def test_substream_while_idle_full_when_triggered(vigil_bin, start_process, vigil_node, tmp_path):
    main_sim = start_camsim(start_process, vigil_bin, 1, size="320x240")
    sub_sim = start_camsim(start_process, vigil_bin, 1, size="160x96")
    root = str(tmp_path / "rec")
    cams = [("cam1", {"record": {"mode": "intelligent", "pre_roll_s": 2, "post_roll_s": 1, "substream": "cam1sub"}}),
            ("cam1sub", {"url": f"rtsp://127.0.0.1:{sub_sim}/cam1", "record": {"mode": "off"}})]
    _, http, _ = vigil_node(config(tmp_path, root, cams, main_sim, segment_s=3))
    base = f"http://127.0.0.1:{http}/api/v1"
    wait_for(lambda: sum(q == "substream" for _, _, q, _, _ in rows(tmp_path, "cam1")) >= 2, 60,
             what="idle substream segments")
    t_trigger = time.time()
    st, body = request("POST", f"{base}/cameras/cam1/record", {"duration_s": 6})
    assert st == 202, body
    # Post-roll, then the substream again (pre_roll_s late), then a 3 s segment closes.
    wait_for(lambda: [q for _, _, q, _, _ in rows(tmp_path, "cam1")][-1:] == ["substream"]
             and "full" in [q for _, _, q, _, _ in rows(tmp_path, "cam1")], 60, what="substream after the trigger")
    segs = rows(tmp_path, "cam1")
    # Until the substream's camera is online the main stream's keyframes are kept; from then on
    # the substream replaces them.
    segs = segs[[q for _, _, q, _, _ in segs].index("substream"):]
    qualities = [q for _, _, q, _, _ in segs]
    assert "keyframes" not in qualities, qualities
    first_full, last_full = qualities.index("full"), len(qualities) - 1 - qualities[::-1].index("full")
    assert all(q == "full" for q in qualities[first_full:last_full + 1]), qualities
    assert "substream" in qualities[:first_full] and "substream" in qualities[last_full + 1:], qualities
    full_frames = 0
    for r, path, quality, start_us, end_us in segs:
        duration, width, packets = probe(os.path.join(r, path))
        assert width == (160 if quality == "substream" else 320), (path, quality, width)
        # Every frame of either stream, not only keyframes.
        assert any(not f.startswith("K") for _, _, f in packets), (path, quality)
        assert abs(duration - (end_us - start_us) / 1e6) < 0.4, (path, duration, start_us, end_us)
        if quality == "full":
            full_frames += len(packets)
    # The trigger's 6 s, the 2 s pre-roll and 1 s post-roll at 25 fps (within a GOP).
    assert full_frames >= 25 * 8, full_frames
    # No second is stored twice: segments follow each other in time.
    for a, b in zip(segs, segs[1:]):
        assert b[3] >= a[4], (a, b)
    # The substream camera itself records nothing of its own.
    assert not segments(root, "cam1sub")

    # VOD across idle and active footage: one init per file, discontinuities between
    # them; ffmpeg decodes it through both resolutions without an error.
    start_ms, end_ms = (segs[0][3] + 999) // 1000, segs[-1][4] // 1000
    vod = f"{base}/cameras/cam1/vod.m3u8?start={start_ms}&end={end_ms}"
    with urllib.request.urlopen(vod, timeout=30) as r:
        playlist = r.read().decode()
    assert playlist.count("#EXT-X-MAP") == len(segs) and "#EXT-X-DISCONTINUITY" in playlist, playlist
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", vod, "-f", "null", "-"], capture_output=True,
                       timeout=120 * SLOW)
    assert r.returncode == 0 and r.stderr.strip() == b"", r.stderr
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "frame=width", "-of", "csv=p=0", vod],
                       capture_output=True, timeout=120 * SLOW)
    widths = set(line.strip(" ,") for line in r.stdout.decode().splitlines() if line.strip(" ,"))
    assert widths == {"160", "320"}, widths

    # A clip starting in idle footage plays up to the change of resolution, which it names.
    clip = f"{base}/cameras/cam1/clip.mp4?start={segs[first_full - 1][3] // 1000}&end={segs[last_full][4] // 1000}"
    with urllib.request.urlopen(clip, timeout=30) as r:
        cut = r.headers.get("X-Vigil-Clip-Cut")
        data = r.read()
    assert cut, "the clip should say where it was cut"
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    duration, width, packets = probe(str(path))
    assert width == 160 and packets, (width, len(packets))
    assert t_trigger > 0
