"""Low-Latency HLS live view (docs/LIVE.md) against a real vigil fed by
camsim: the playlist's LL-HLS tags, parts that add up to their segments
byte for byte and in duration, blocking playlist reloads (held without
holding up the HTTP server, answered with a Content-Length on a kept-alive
connection, 503 when the camera sends nothing in time), the hinted part,
and FFmpeg reading and decoding it all.
"""
import http.client
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, free_port, http_get
from test_auth import ADMIN_PW, AUTH, basic, call
from test_live_ws import decode_errors, live_node, probe, wait_online  # noqa: F401 (live_node is a fixture)

PLAYLIST = "/api/v1/cameras/cam1/live.m3u8"


def parse(text):
    """The playlist as (tags, segments, pending parts, hint): each segment a
    dict with msn, duration, uri and its parts (duration, uri, independent)."""
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U", text
    tags, segs, parts, hint = {}, [], [], None
    msn = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        if line.startswith("#EXT-X-PART:"):
            d = float(re.search(r"DURATION=([0-9.]+)", line).group(1))
            uri = re.search(r'URI="([^"]+)"', line).group(1)
            parts.append({"duration": d, "uri": uri, "independent": "INDEPENDENT=YES" in line})
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            hint = re.search(r'URI="([^"]+)"', line).group(1)
        elif line.startswith("#EXTINF:"):
            segs.append({"duration": float(line[8:].rstrip(",")), "parts": parts})
            parts = []
        elif line.startswith("#"):
            name, _, value = line.partition(":")
            tags.setdefault(name, value)
        elif line:
            segs[-1]["uri"] = line
            segs[-1]["msn"] = msn
            msn += 1
    return tags, segs, parts, hint, msn


def get_playlist(base, query="", timeout=10):
    status, hdrs, body = http_get(base + PLAYLIST + query, timeout=timeout * SLOW)
    assert status == 200 and hdrs["Content-Type"] == "application/vnd.apple.mpegurl"
    return body.decode()


def next_part(base):
    """(msn, part index) of the part the playlist hints at: the next one."""
    hint = parse(get_playlist(base))[3]
    return tuple(int(x) for x in re.match(r"live/(\d+)\.(\d+)\.m4s$", hint).groups())


def test_llhls_playlist_parts_and_ffmpeg(live_node, tmp_path):
    _, http, base = live_node()
    wait_online(base)
    text = get_playlist(base)
    tags, _, _, hint, _ = parse(text)
    assert tags["#EXT-X-SERVER-CONTROL"].startswith("CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="), text
    part_target = float(tags["#EXT-X-PART-INF"].split("=", 1)[1])
    hold_back = float(tags["#EXT-X-SERVER-CONTROL"].split("PART-HOLD-BACK=", 1)[1])
    assert 0.2 <= part_target <= 0.5 and hold_back >= 2 * part_target, text
    assert '#EXT-X-MAP:URI="live/init.mp4"' in text and hint, text
    # A few GOPs of 1 s later: complete segments with their parts listed.
    time.sleep(3.5)
    text = get_playlist(base)
    tags, segs, pending, hint, next_msn = parse(text)
    assert len(segs) >= 3, text
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", tags["#EXT-X-PROGRAM-DATE-TIME"]), text
    target = int(tags["#EXT-X-TARGETDURATION"])
    with_parts = [s for s in segs if s["parts"]]
    assert with_parts, text
    if len(segs) >= 5:
        assert not segs[0]["parts"], "parts only for the last segments:\n" + text
    assert hint == f"live/{next_msn}.{len(pending)}.m4s", text
    init = http_get(base + "/api/v1/cameras/cam1/live/init.mp4")[2]
    for s in with_parts:
        # Durations: each part within the part target, the parts add up to
        # the segment, the segment within the target duration.
        assert all(p["duration"] <= part_target + 1e-6 for p in s["parts"]), text
        assert abs(sum(p["duration"] for p in s["parts"]) - s["duration"]) < 0.002, text
        assert s["duration"] <= target + 0.5, text
        # Bytes: the segment is its parts one after the other; only a
        # segment's first part may start with a keyframe.
        whole = http_get(f"{base}/api/v1/cameras/cam1/{s['uri']}")[2]
        joined = b"".join(http_get(f"{base}/api/v1/cameras/cam1/{p['uri']}")[2] for p in s["parts"])
        assert whole == joined and len(whole) > 1000
        assert not any(p["independent"] for p in s["parts"][1:]), text
    # Segments start at keyframes (but the one after the cached GOP, cut
    # where vigil caught up with the camera).
    assert sum(s["parts"][0]["independent"] for s in with_parts) >= len(with_parts) - 1, text
    # Most parts are close to the target (RFC 8216bis: all but a segment's
    # last part at least 85% of it).
    for s in with_parts:
        for p in s["parts"][:-1]:
            assert p["duration"] >= 0.85 * part_target, text
    # The parts decode after the init segment without errors.
    path = tmp_path / "parts.mp4"
    path.write_bytes(init + b"".join(http_get(f"{base}/api/v1/cameras/cam1/{p['uri']}")[2]
                                     for s in with_parts for p in s["parts"]))
    v = [s for s in probe(str(path)) if s["codec_type"] == "video"][0]
    assert (v["width"], v["height"]) == (320, 240) and int(v["nb_read_frames"]) >= 25
    rc, err = decode_errors(str(path))
    assert rc == 0 and err == "", err
    # FFmpeg reads the LL-HLS playlist itself (as plain HLS: it takes the
    # whole segments) and decodes it without errors.
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", base + PLAYLIST, "-t", "2", "-f", "null", "-"],
                       capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode(errors="replace")


def test_llhls_blocking_reload(live_node):
    _, http, base = live_node()
    wait_online(base)
    tags = parse(get_playlist(base))[0]
    part_target = float(tags["#EXT-X-PART-INF"].split("=", 1)[1])
    time.sleep(1)
    waits = []
    for _ in range(6):
        msn, part = next_part(base)
        t0 = time.monotonic()
        text = get_playlist(base, f"?_HLS_msn={msn}&_HLS_part={part}")
        waited = time.monotonic() - t0
        waits.append(waited)
        segs = parse(text)[1]
        # The answer holds the part asked for, or the segment ended before it.
        has = f'URI="live/{msn}.{part}.m4s"' in text or any(s["msn"] == msn for s in segs)
        assert has, f"asked for {msn}.{part}:\n{text}"
        assert waited < (part_target + 0.4) * SLOW, f"the next part took {waited:.3f} s"
    print(f"blocking reloads for the next part answered in {', '.join(f'{w * 1000:.0f}' for w in waits)} ms")
    # They were held: the next part is not there at once.
    assert sorted(waits)[len(waits) // 2] > 0.03, waits
    # A whole segment: _HLS_msn alone waits for the segment to complete.
    msn, _ = next_part(base)
    t0 = time.monotonic()
    text = get_playlist(base, f"?_HLS_msn={msn}")
    assert any(s["msn"] == msn for s in parse(text)[1]) and time.monotonic() - t0 < 1.5 * SLOW, text

    # A held request does not hold up the HTTP server: other requests go
    # on while one waits for the part after the next.
    msn, part = next_part(base)
    result = {}

    def held():
        t0 = time.monotonic()
        result["text"] = get_playlist(base, f"?_HLS_msn={msn}&_HLS_part={part + 2}")
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=held)
    t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    for _ in range(5):
        http_get(base + "/api/v1/cameras/cam1")
    others = time.monotonic() - t0
    t.join(10 * SLOW)
    assert "text" in result
    assert others < result["took"] or others < 0.2 * SLOW, (others, result["took"])
    print(f"5 API requests took {others * 1000:.0f} ms while a reload was held {result['took'] * 1000:.0f} ms")


def test_llhls_hinted_part_and_errors(live_node):
    _, http, base = live_node()
    wait_online(base)
    time.sleep(1)
    # The preload hint's part is held until it exists, then sent whole.
    got = None
    for _ in range(4):
        text = get_playlist(base)
        hint = parse(text)[3]
        t0 = time.monotonic()
        try:
            status, hdrs, body = http_get(f"{base}/api/v1/cameras/cam1/{hint}", timeout=10 * SLOW)
        except urllib.error.HTTPError as e:  # 404 when the segment ended before the hinted part
            assert e.code == 404, e.code
            continue
        took = time.monotonic() - t0
        assert int(hdrs["Content-Length"]) == len(body) > 0
        got = (hint, body, took)
        break
    assert got, "no hinted part arrived"
    hint, body, took = got
    assert body[4:8] == b"moof" and took < 1.5 * SLOW, (body[:16], took)
    msn, part = (int(x) for x in re.match(r"live/(\d+)\.(\d+)\.m4s", hint).groups())
    assert http_get(f"{base}/api/v1/cameras/cam1/{hint}")[2] == body
    # Bad requests: far ahead, a part without a segment number, not numbers.
    for query in (f"?_HLS_msn={msn + 10}", f"?_HLS_msn={msn + 1}&_HLS_part={part + 40}", "?_HLS_part=1",
                  "?_HLS_msn=abc", "?_HLS_msn=-1"):
        with pytest.raises(urllib.error.HTTPError) as e:
            http_get(base + PLAYLIST + query)
        assert e.value.code == 400, query
    # Parts far ahead (not the hinted one) and long gone are 404 at once.
    for name in (f"{msn + 5}.0.m4s", "0.99.m4s", f"{msn}.x.m4s"):
        with pytest.raises(urllib.error.HTTPError) as e:
            http_get(f"{base}/api/v1/cameras/cam1/live/{name}")
        assert e.value.code == 404, name


def test_llhls_needs_the_live_permission(live_node, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_ADMIN_PASSWORD", ADMIN_PW)
    _, http, base = live_node(cfg={"auth": dict(AUTH, secret_key_file=str(tmp_path / "secret.key"))})
    admin = basic("admin", ADMIN_PW)
    wait_online(base, admin)
    status, _, text = call(base, "GET", PLAYLIST, headers=admin)
    assert status == 200 and "#EXT-X-PART-INF" in text, text
    hint = parse(text)[3]
    msn, part = (int(x) for x in re.match(r"live/(\d+)\.(\d+)\.m4s$", hint).groups())
    status, _, body = call(base, "GET", f"/api/v1/cameras/cam1/live/{msn}.{part}.m4s", headers=admin)
    assert status == 200 and len(body) > 0
    blocking = f"{PLAYLIST}?_HLS_msn={msn}&_HLS_part={part}"
    files = [f"/api/v1/cameras/cam1/live/{msn}.{part}.m4s", f"/api/v1/cameras/cam1/live/{msn}.m4s",
             "/api/v1/cameras/cam1/live/init.mp4"]
    # Without credentials: 401, a held request included (nothing is held).
    for path in [PLAYLIST, blocking] + files:
        assert call(base, "GET", path)[0] == 401, path
    # A viewer without the live permission on cam1 sees no camera.
    status, _, _ = call(base, "POST", "/api/v1/users", {"name": "eve", "password": "eve password",
                        "role": "viewer", "permissions": {}}, headers=admin)
    assert status in (200, 201)
    eve = basic("eve", "eve password")
    for path in [PLAYLIST, blocking] + files:
        assert call(base, "GET", path, headers=eve)[0] == 404, path


def test_llhls_blocking_reloads_keep_alive(live_node):
    """Held reloads are deferred answers: a normal response with a
    Content-Length once ready, so one connection serves one after another."""
    _, port, base = live_node()
    wait_online(base)
    time.sleep(1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW)
    try:
        conn.request("GET", PLAYLIST)
        r = conn.getresponse()
        text = r.read().decode()
        assert r.status == 200 and not r.will_close
        sock = conn.sock
        msn, part = (int(x) for x in re.match(r"live/(\d+)\.(\d+)\.m4s$", parse(text)[3]).groups())
        waits = []
        for i in range(3):
            t0 = time.monotonic()
            conn.request("GET", f"{PLAYLIST}?_HLS_msn={msn}&_HLS_part={part}")
            r = conn.getresponse()
            body = r.read()
            waits.append(time.monotonic() - t0)
            assert r.status == 200 and r.getheader("Content-Type") == "application/vnd.apple.mpegurl"
            assert int(r.getheader("Content-Length")) == len(body) and not r.will_close
            assert conn.sock is sock, "the connection was not kept alive"
            text = body.decode()
            assert f'URI="live/{msn}.{part}.m4s"' in text or f"live/{msn}.m4s\n" in text, text
            msn, part = (int(x) for x in re.match(r"live/(\d+)\.(\d+)\.m4s$", parse(text)[3]).groups())
        # HEAD of a held reload waits the same, then sends the head only.
        conn.request("HEAD", f"{PLAYLIST}?_HLS_msn={msn}&_HLS_part={part}")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"" and int(r.getheader("Content-Length")) > 0
        # And the connection still serves a plain request after it.
        conn.request("GET", "/api/v1/cameras/cam1")
        r = conn.getresponse()
        assert r.status == 200 and r.read() and conn.sock is sock
    finally:
        conn.close()
    print(f"blocking reloads on one connection answered in {', '.join(f'{w * 1000:.0f}' for w in waits)} ms")


def test_llhls_held_reload_503_when_the_camera_stops(vigil_bin, start_process, vigil_node):
    """A camera that stops sending (camsim paused): a held reload is answered
    503 by its deadline (VG_HLS_BLOCK_MAX_MS, 6 s), not later."""
    sim_port = free_port()
    sim = start_process([vigil_bin, "camsim", "--bind", "127.0.0.1", "--port", str(sim_port), "--cameras", "1",
                         "--size", "320x240", "--fps", "25", "--bitrate", "300k", "--gop", "25", "--workers", "1",
                         "--cache-dir", "none"], "camsim")
    sim.wait_output("camsim: serving", 120)
    _, port, _ = vigil_node({"cameras": [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim_port}/cam1"}]})
    base = f"http://127.0.0.1:{port}"
    wait_online(base)
    get_playlist(base)
    time.sleep(1)
    sim.p.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.3)  # what was on its way is in
        msn, _ = next_part(base)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15 * SLOW)
        t0 = time.monotonic()
        conn.request("GET", f"{PLAYLIST}?_HLS_msn={msn + 1}")
        r = conn.getresponse()
        body = r.read()
        took = time.monotonic() - t0
        assert r.status == 503, (r.status, body)
        assert int(r.getheader("Content-Length")) == len(body) and b'"unavailable"' in body
        assert took < 6 + 1 * SLOW, f"the 503 came after {took:.2f} s"
        # The connection goes on: the playlist as it stands, at once.
        conn.request("GET", PLAYLIST)
        r = conn.getresponse()
        assert r.status == 200 and r.read().startswith(b"#EXTM3U")
        conn.close()
        print(f"a held reload for a paused camera was answered 503 after {took:.2f} s")
    finally:
        sim.p.send_signal(signal.SIGCONT)
