"""Playback: a camsim camera (H.264 GOP 1 s + AAC) recorded by `vigil run` in
4 s segments, stopped for a while and restarted; then, over HTTP, the
recordings API lists the spans and the gap, FFmpeg plays a VOD range of the
HLS playlist and an exported clip without errors and with the requested
duration, and byte ranges of the clip and of the segment files are exactly
the bytes of a full download."""
import json
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from conftest import SLOW, free_port, http_get_json, wait_for

GOP_S = 1.0  # camsim --gop 25 at 25 fps
FRAGMENT_S = 1.0  # fragment_ms below


def start_camsim(start_process, vigil_bin, port):
    sim = start_process([vigil_bin, "camsim", "--bind", "127.0.0.1", "--port", str(port), "--cameras", "1",
                         "--codec", "h264", "--size", "320x240", "--fps", "25", "--bitrate", "300k", "--gop",
                         "25", "--duration-s", "2", "--audio", "aac", "--workers", "1"], "camsim")
    sim.wait_output("camsim: serving", 120)
    return sim


def get(url, headers=None):
    """(status, headers, body) of a GET, also for 4xx answers."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30 * SLOW) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def rfc3339(unix_s):
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def decode(url, seconds_cap=60):
    """Decodes url with FFmpeg: (stderr, video frames decoded, audio frames decoded)."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-vsync", "passthrough", "-f",
                        "framemd5", "-"], capture_output=True, timeout=seconds_cap * SLOW)
    lines = r.stdout.decode().splitlines()
    video = sum(1 for ln in lines if ln.startswith("0,"))
    audio = sum(1 for ln in lines if ln.startswith("1,"))
    assert r.returncode == 0, r.stderr
    return r.stderr.decode(errors="replace").strip(), video, audio


def boxes(data):
    """Top-level (type, size) list of an MP4 held in memory."""
    out, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[at + 8:at + 16], "big")
        assert size >= 8, (kind, size)
        out.append((kind, size))
        at += size
    assert at == len(data)
    return out


def check_ranges(url, full):
    """Range, If-Range and 416 against a full download."""
    size = len(full)
    status, h, body = get(url, {"Range": "bytes=100-1099"})
    assert status == 206 and body == full[100:1100]
    assert h["Content-Range"] == f"bytes 100-1099/{size}"
    assert h["Accept-Ranges"] == "bytes"
    etag = h["ETag"]
    status, h, body = get(url, {"Range": "bytes=-500"})
    assert status == 206 and body == full[-500:]
    status, h, body = get(url, {"Range": f"bytes={size - 1000}-"})
    assert status == 206 and body == full[-1000:]
    status, h, body = get(url, {"Range": f"bytes={size // 2}-{size * 2}"})
    assert status == 206 and body == full[size // 2:]
    status, h, body = get(url, {"Range": f"bytes={size}-"})
    assert status == 416 and h["Content-Range"] == f"bytes */{size}"
    status, h, body = get(url, {"Range": "bytes=10-19", "If-Range": etag})
    assert status == 206 and body == full[10:20]
    status, h, body = get(url, {"Range": "bytes=10-19", "If-Range": '"another"'})
    assert status == 200 and body == full


def test_playback(vigil_bin, start_process, vigil_node, tmp_path):
    sim_port = free_port()
    sim = start_camsim(start_process, vigil_bin, sim_port)
    proc, http, _ = vigil_node({
        "database": {"path": str(tmp_path / "vigil.db")},
        "record": {"enabled": True, "root": str(tmp_path / "rec"), "segment_s": 4, "fragment_ms": 1000},
        "cameras": [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim_port}/cam1"}]})
    api = f"http://127.0.0.1:{http}/api/v1"
    t0 = time.time()

    def spans():
        q = f"{api}/cameras/cam1/recordings?start={int(t0) - 60}&end={int(time.time()) + 60}"
        return http_get_json(q)["spans"]

    # About 11 s of footage, then the camera goes away for about 6 s and comes back.
    wait_for(lambda: spans() and spans()[0]["duration_s"] >= 11, 60, what="11 s recorded")
    sim.stop()
    time.sleep(6)
    sim = start_camsim(start_process, vigil_bin, sim_port)
    wait_for(lambda: len(spans()) == 2 and spans()[1]["duration_s"] >= 5, 60, what="a second span")

    # ---- recordings: spans and the gap, in both time notations ----
    start, end = int(t0) - 60, int(time.time()) + 60
    rec = http_get_json(f"{api}/cameras/cam1/recordings?start={start * 1000}&end={end * 1000}")
    same = http_get_json(f"{api}/cameras/cam1/recordings?start={rfc3339(start)}&end={rfc3339(end)}")
    assert rec == same
    assert rec["camera"] == "cam1" and rec["range"]["start_ms"] == start * 1000
    s1, s2 = rec["spans"]
    assert s1["duration_s"] >= 11 and s2["duration_s"] >= 5
    gaps = rec["gaps"]
    assert len(gaps) == 3  # before, between, after
    between = gaps[1]
    assert between["start_ms"] == s1["end_ms"] and between["end_ms"] == s2["start_ms"]
    assert between["duration_s"] >= 4, between
    assert s1["start"].endswith("Z") and s1["start"][:4] == rfc3339(t0)[:4]
    for bad, name in (("start=yesterday&end=1", "start"), (f"start={start}&end=2026-13-01T00:00:00Z", "end"),
                      (f"start={end}&end={start}", "end")):
        status, _, body = get(f"{api}/cameras/cam1/recordings?{bad}")
        err = json.loads(body)["error"]
        assert status == 400 and err["message"].startswith(name + ":"), (bad, err)

    # ---- VOD: a 6.3 s range inside the first span ----
    v_start = s1["start_ms"] / 1000 + 2.3
    v_end = v_start + 6.3
    vod = f"{api}/cameras/cam1/vod.m3u8?start={int(v_start * 1000)}&end={int(v_end * 1000)}"
    status, h, body = get(vod)
    assert status == 200 and h["Content-Type"] == "application/vnd.apple.mpegurl"
    text = body.decode()
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:7\n") and "#EXT-X-ENDLIST" in text
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-MAP:URI=" in text
    assert "#EXT-X-PROGRAM-DATE-TIME:" in text and "#EXT-X-BYTERANGE:" in text
    err, video, audio = decode(vod)
    assert err == "", err
    decoded = video / 25
    # From the keyframe at or before start to the end of the fragment holding end.
    requested = v_end - v_start
    assert requested - 0.05 <= decoded <= requested + GOP_S + FRAGMENT_S, (decoded, requested)
    assert abs(decoded - requested) <= GOP_S + 0.05, (decoded, requested)
    assert audio > 0
    # A playlist over both spans plays across the gap and the file changes.
    whole = f"{api}/cameras/cam1/vod.m3u8?start={s1['start_ms']}&end={s2['end_ms']}"
    err, video, _ = decode(whole)
    assert err == "", err
    assert video >= 25 * (s1["duration_s"] + s2["duration_s"] - 1.5), video
    # No footage in the gap.
    status, _, _ = get(f"{api}/cameras/cam1/vod.m3u8?start={between['start_ms'] + 500}"
                       f"&end={between['end_ms'] - 500}")
    assert status == 404

    # ---- clip: 5.5 s across segment files (4 s each) ----
    c_start = s1["start_ms"] / 1000 + 3.5
    c_end = c_start + 5.5
    clip_url = f"{api}/cameras/cam1/clip.mp4?start={rfc3339(c_start)}&end={rfc3339(c_end)}"
    status, h, clip = get(clip_url)
    assert status == 200 and h["Content-Type"] == "video/mp4"
    assert int(h["Content-Length"]) == len(clip)
    assert h["Content-Disposition"].startswith('attachment; filename="cam1-') and ".mp4" in h["Content-Disposition"]
    kinds = [k for k, _ in boxes(clip)]
    assert kinds[:3] == ["ftyp", "moov", "mdat"], kinds
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    err, video, audio = decode(str(path))
    assert err == "", err
    assert c_end - c_start - 0.05 <= video / 25 <= c_end - c_start + GOP_S, video
    assert audio > 0
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
                        "-of", "json", str(path)], capture_output=True, timeout=30 * SLOW)
    info = json.loads(r.stdout)
    assert sorted(s["codec_name"] for s in info["streams"]) == ["aac", "h264"]
    assert c_end - c_start - 0.1 <= float(info["format"]["duration"]) <= c_end - c_start + GOP_S + 0.1
    # ffprobe's own trace: moov is read before mdat.
    r = subprocess.run(["ffprobe", "-v", "trace", str(path)], capture_output=True, timeout=30 * SLOW)
    trace = r.stderr.decode(errors="replace")
    assert trace.index("type:'moov'") < trace.index("type:'mdat'")
    check_ranges(clip_url, clip)

    # ---- the segment file route ----
    first_uri = [ln for ln in text.splitlines() if ln.startswith("/api/v1/recordings/")][0]
    file_url = f"http://127.0.0.1:{http}{first_uri.split('?')[0]}"
    status, h, seg = get(file_url)
    assert status == 200 and h["Content-Type"] == "video/mp4" and boxes(seg)[0][0] == "ftyp"
    check_ranges(file_url, seg)
    status, _, _ = get(f"{api}/recordings/999999/file.mp4")
    assert status == 404
    status, _, _ = get(f"{api}/recordings/..%2f..%2fetc%2fpasswd/file.mp4")
    assert status == 404

    assert proc.stop() == 0
