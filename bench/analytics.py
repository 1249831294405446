#!/usr/bin/env python3
"""bench/analytics.py: analytics at the scale it is deployed at.

    bench/analytics.py [--vigil build/vigil] [--seconds 20] [--counts 1,2,4]
                       [--parts cameras,decode,gating] [--gating-scenes vtest,floor,hall]

cameras: N cameras, each a 1920x1080 2 Mbit/s main stream (camsim, vtest.avi
  scaled, 25 fps, GOP 50) that vigil records continuously, plus a 640x360
  substream (camsim, vtest.avi scaled, 10 fps, GOP 10) configured as a camera
  of its own (not recorded) and named as the main camera's analytics
  `substream`; analytics at 5 fps with motion gating, NanoDet on one
  inference worker, the pool at its default (one thread per core). Reports
  analysed frames per second per camera, frames skipped because analytics
  fell behind, the recorder's dropped frames (must stay 0), the CPU vigil
  used and cameras per core (cameras x analysed fps / 5 / cores used).
decode: the cost of decoding every frame versus keyframes only, in
  isolation: the exact streams camsim serves (captured from its RTSP with
  ffmpeg -c copy) decoded by libavcodec's H.264 decoder on one thread with
  the flags vigil uses (-threads 1 -flags2 fast -flags low_delay; keyframes
  only: -skip_frame nokey), as the CPU time of the ffmpeg process per minute
  of video.
gating: detector calls per second with motion gating (the default: regions
  with motion or tracks, a full-frame check every 5 s) and without
  (full_frame_interval_s 0: the whole picture on every analysed frame), on
  the vtest.avi substream (people move all the time) and on two mostly-still
  scripted scenes where one person walks through for 8 s of every 40 s
  (measured over at least one whole 40 s loop): an
  empty stretch of vtest.avi's floor, and the whole hall with people
  standing in it (stationary tracked objects), one camera each. Each scene
  runs in three modes: the default (stationary objects with no motion on
  them re-detected every stationary_interval_s, 2 s), stationary_interval_s
  0 (every analysed frame, as before stationary gating), and full frames.
  The hall scene warms up for 15 s, past the tracker's stationary_s (10 s).
  --gating-scenes picks scenes (vtest, floor, hall).

Needs scripts/setup-models.sh (or VIGIL_MODELS) and opencv-doc (vtest.avi).
Prints Markdown tables for docs/BENCHMARKS.md. The machine is shared: keep
--seconds modest, and read the load average printed at the start and end.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import cpu_seconds, free_port, metrics, start, stop, thread_cpu, wait_online, wait_text  # noqa: E402

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
DETECT_FPS = 5
VIDEO_S = 300  # video decoded per stream in the decode part
CACHE = os.path.join(tempfile.gettempdir(), f"vigil-anabench-{os.geteuid()}")

MAIN = ["--size", "1920x1080", "--fps", "25", "--gop", "50", "--bitrate", "2M", "--source", VTEST,
        "--duration-s", "20"]
SUB = ["--size", "640x360", "--fps", "10", "--gop", "10", "--bitrate", "500k", "--source", VTEST,
       "--duration-s", "20"]


def models_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("VIGIL_MODELS"), os.path.join(here, "..", "models")):
        if d and os.path.exists(os.path.join(d, "nanodet.json")):
            return os.path.abspath(d)
    sys.exit("models missing: run scripts/setup-models.sh or set VIGIL_MODELS")


def mget(m, name, **labels):
    """Sum of a metric's samples whose labels include the given ones."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for lab, v in m.get(name, []) if all(w in lab for w in want))


# Backgrounds for the mostly-still scenes, crops of vtest.avi's first frame:
# an empty stretch of the hall's floor (the crossing scene's), and the
# whole hall with the people standing in it (detected, then tracked as
# stationary objects).
EMPTY_FLOOR = [0, 306, 448, 252]
HALL_WITH_PEOPLE = [0, 72, 768, 432]


def still_scene(tmp, crop):
    """A mostly-still scene: a still background and one person walking
    across it for 8 s of every 40 s."""
    link = os.path.join(tmp, "vtest.avi")
    if not os.path.exists(link):
        os.symlink(VTEST, link)
    scene = {"width": 640, "height": 360, "fps": 10, "gop": 10, "duration_s": 40,
             "background": {"image": "vtest.avi", "frame": 0, "crop": crop},
             "sprites": [{"id": "man", "image": "vtest.avi", "frame": 30, "crop": [624, 250, 46, 106],
                          "mask": "ellipse", "height": 150,
                          "path": [{"t": 4, "x": -0.1, "y": 0.85}, {"t": 12, "x": 1.1, "y": 0.85}]}]}
    path = os.path.join(tmp, f"still-{crop[1]}.json")
    with open(path, "w") as f:
        json.dump(scene, f)
    return path


def start_camsim(vigil, tmp, name, n, args):
    port = free_port()
    log_path = os.path.join(tmp, f"camsim-{name}.log")
    p = start([vigil, "camsim", "--bind", "127.0.0.1", "--port", str(port), "--cameras", str(n),
               "--cache-dir", CACHE, "--log-level", "warn"] + args, open(log_path, "w"))
    # The first run encodes the clip (a 1080p one takes a while on a busy machine).
    if not wait_text(log_path, "camsim: serving", 600):
        stop(p)
        sys.exit(f"camsim did not start; see {log_path}")
    return p, port


def start_node(vigil, tmp, cameras, analytics, record=False):
    tmp = tempfile.mkdtemp(dir=tmp)  # a database and recordings of its own
    http = free_port()
    cfg = {"log_level": "info", "auth": {"enabled": False},
           "http": {"bind": "127.0.0.1", "port": http},
           "rtsp_server": {"bind": "127.0.0.1", "port": free_port()},
           "database": {"path": os.path.join(tmp, "vigil.db")},
           "analytics": dict({"enabled": True, "models_dir": models_dir(), "detect_threads": 1}, **analytics),
           "cameras": cameras}
    if record:
        cfg["record"] = {"enabled": True, "root": os.path.join(tmp, "rec"), "segment_s": 10, "max_age_s": 60}
    cfg_path = os.path.join(tmp, "vigil.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    log_path = os.path.join(tmp, "vigil.log")
    p = start([vigil, "run", "-c", cfg_path], open(log_path, "w"))
    if wait_online(http, len(cameras), 120) != len(cameras):
        stop(p)
        sys.exit(f"cameras did not come online; see {log_path}")
    p.log_path = log_path
    return p, http


def decoder_log_line(p):
    with open(p.log_path, errors="replace") as f:
        return next((line.strip() for line in f if "decoding with" in line), "(none)")


def pool_cpu_seconds(pid):
    """CPU seconds of vigil's analytics pool threads (named vg-analytics):
    decoding, scaling, motion, tamper and tracking, without the detector."""
    return thread_cpu(pid).get("vg-analytics", 0.0)


def measure(p, http, seconds, warmup=5):
    """Counter rates over seconds after a warm-up; CPU in cores."""
    time.sleep(warmup)
    m0, c0, t0, a0 = metrics(http), cpu_seconds(p.pid), time.time(), pool_cpu_seconds(p.pid)
    time.sleep(seconds)
    m1, c1, t1, a1 = metrics(http), cpu_seconds(p.pid), time.time(), pool_cpu_seconds(p.pid)
    dt = t1 - t0
    rate = {k: (mget(m1, k) - mget(m0, k)) / dt for k in (
        "vigil_decode_frames_total", "vigil_analytics_frames_total", "vigil_detect_frames_total",
        "vigil_analytics_skipped_frames_total", "vigil_analytics_idle_frames_total",
        "vigil_analytics_stationary_skipped_frames_total", "vigil_record_bytes_total",
        "vigil_infer_run_seconds_total")}
    rate["cpu"] = (c1 - c0) / dt
    rate["pool_cpu"] = (a1 - a0) / dt
    rate["record_dropped"] = mget(m1, "vigil_record_dropped_frames_total")
    rate["decoders"] = sorted({lab for lab, _ in m1.get("vigil_analytics_decoder", [])})
    return rate


def part_cameras(vigil, tmp, counts, seconds):
    print("| cameras (main 1080p recorded + 640x360 substream analysed) | analysed fps per camera | "
          "detector calls/s | detector busy (ms per call) | skipped frames/s | recorder dropped frames | "
          "recorded Mbit/s | CPU cores used: vigil (of which decode + motion) | "
          "cameras per core at 5 fps: all of vigil (decode + motion only) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in counts:
        main, main_port = start_camsim(vigil, tmp, "main", n, MAIN)
        sub, sub_port = start_camsim(vigil, tmp, "sub", n, SUB)
        cams = []
        for i in range(1, n + 1):
            cams.append({"id": f"main{i}", "url": f"rtsp://127.0.0.1:{main_port}/cam{i}",
                         "analytics": {"substream": f"sub{i}", "classes": ["person"]}})
            cams.append({"id": f"sub{i}", "url": f"rtsp://127.0.0.1:{sub_port}/cam{i}",
                         "record": {"mode": "off"}})
        node, http = start_node(vigil, tmp, cams, {}, record=True)
        r = measure(node, http, seconds)
        log_line = decoder_log_line(node)
        stop(node)
        stop(sub)
        stop(main)
        per = r["vigil_analytics_frames_total"] / n
        per_core = n * (per / DETECT_FPS) / r["cpu"] if r["cpu"] > 0 else 0
        pool_per_core = n * (per / DETECT_FPS) / r["pool_cpu"] if r["pool_cpu"] > 0 else 0
        calls, busy = r["vigil_detect_frames_total"], r["vigil_infer_run_seconds_total"]
        print(f"| {n} | {per:.2f} | {calls:.2f} | {busy * 100:.0f}% ({busy / calls * 1000 if calls else 0:.0f}) | "
              f"{r['vigil_analytics_skipped_frames_total']:.2f} | {r['record_dropped']:.0f} | "
              f"{r['vigil_record_bytes_total'] * 8 / 1e6:.2f} | {r['cpu']:.2f} ({r['pool_cpu']:.2f}) | "
              f"{per_core:.1f} ({pool_per_core:.1f}) |")
        sys.stdout.flush()
    print(f"\ndecoder in use: {r['decoders']}; vigil's log: {log_line}")


def capture(url, path, seconds):
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                             "-rtsp_transport", "tcp", "-i", url, "-map", "0:v", "-c", "copy", "-t", str(seconds),
                             path])


def decode_cpu(path, keyframes_only, loops, frames=None):
    """CPU seconds of one ffmpeg decoding path loops+1 times (or only its
    first frames)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    args = ["ffmpeg", "-hide_banner", "-loglevel", "fatal", "-nostdin", "-threads", "1", "-flags2", "fast",
            "-flags", "low_delay"]
    if keyframes_only:
        args += ["-skip_frame", "nokey"]
    args += ["-stream_loop", str(loops), "-i", path, "-map", "0:v"]
    if frames:
        args += ["-frames:v", str(frames)]
    subprocess.run(args + ["-f", "null", "-"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def probe_duration(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def part_decode(vigil, tmp):
    main, main_port = start_camsim(vigil, tmp, "main", 1, MAIN)
    sub, sub_port = start_camsim(vigil, tmp, "sub", 1, SUB)
    still, still_port = start_camsim(vigil, tmp, "still", 1, ["--scene", still_scene(tmp, EMPTY_FLOOR)])
    streams = [("640x360 10 fps GOP 10, vtest.avi", sub_port, "sub.mkv"),
               ("640x360 10 fps GOP 10, still scene", still_port, "still.mkv"),
               ("1920x1080 25 fps GOP 50, vtest.avi", main_port, "main.mkv")]
    caps = [capture(f"rtsp://127.0.0.1:{port}/cam1", os.path.join(tmp, f), 20) for _, port, f in streams]
    for c in caps:
        c.wait()
    for p in (main, sub, still):
        stop(p)
    print(f"Each stream decoded for about {VIDEO_S // 60} minutes of video (the capture looped); "
          "ffmpeg's start-up cost subtracted.\n")
    print("| stream (as camsim serves it) | every frame: CPU s per camera-minute | "
          "keyframes only: CPU s per camera-minute | ratio |")
    print("| --- | --- | --- | --- |")
    for label, _, f in streams:
        path = os.path.join(tmp, f)
        dur = probe_duration(path)
        loops = max(0, int(VIDEO_S / dur + 0.5) - 1)
        minutes = dur * (loops + 1) / 60
        # ffmpeg's own start (and the first keyframe), measured apart and taken off.
        start_cost = min(decode_cpu(path, True, 0, frames=1) for _ in range(3))
        full = max(0.0, decode_cpu(path, False, loops) - start_cost) / minutes
        key = max(0.0, decode_cpu(path, True, loops) - start_cost) / minutes
        print(f"| {label} | {full:.2f} | {key:.2f} | {full / key:.1f} |")
        sys.stdout.flush()


def part_gating(vigil, tmp, seconds, scenes):
    print("| 1 camera, 640x360, 5 fps | detector calls/s | frames decoded/s | analysed frames/s | "
          "idle (undecoded) frames/s | stationary-skipped frames/s | CPU cores used |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    # Modes: the default (motion gating, stationary objects re-checked every
    # stationary_interval_s), stationary objects checked on every analysed
    # frame (the behaviour before stationary gating), and full frames.
    modes = (("motion-gated", {}),
             ("motion-gated, stationary_interval_s 0", {"stationary_interval_s": 0}),
             ("full frame, every analysed frame", {"full_frame_interval_s": 0, "stationary_interval_s": 0}))
    for key, scene_label, args in (("vtest", "vtest.avi", SUB),
                                   ("floor", "still floor, a person walks by 8 s in 40 s",
                                    ["--scene", still_scene(tmp, EMPTY_FLOOR)]),
                                   ("hall", "still hall with people standing, a person walks by 8 s in 40 s",
                                    ["--scene", still_scene(tmp, HALL_WITH_PEOPLE)])):
        if key not in scenes:
            continue
        sim, port = start_camsim(vigil, tmp, "gating", 1, args)
        for mode, analytics in modes:
            cams = [{"id": "cam1", "url": f"rtsp://127.0.0.1:{port}/cam1", "analytics": {"classes": ["person"]}}]
            node, http = start_node(vigil, tmp, cams, analytics)
            r = measure(node, http, seconds if args is SUB else max(seconds, 40), warmup=15 if key == "hall" else 5)
            stop(node)
            print(f"| {scene_label}, {mode} | {r['vigil_detect_frames_total']:.2f} | "
                  f"{r['vigil_decode_frames_total']:.2f} | {r['vigil_analytics_frames_total']:.2f} | "
                  f"{r['vigil_analytics_idle_frames_total']:.2f} | "
                  f"{r['vigil_analytics_stationary_skipped_frames_total']:.2f} | {r['cpu']:.2f} |")
            sys.stdout.flush()
        stop(sim)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--counts", default="1,2,4")
    ap.add_argument("--parts", default="cameras,decode,gating")
    ap.add_argument("--gating-scenes", default="vtest,floor,hall", help="the gating part's scenes")
    a = ap.parse_args()
    if not os.path.exists(VTEST):
        sys.exit(f"{VTEST} missing (apt install opencv-doc)")
    os.makedirs(CACHE, exist_ok=True)
    vigil = os.path.abspath(a.vigil)
    parts = a.parts.split(",")
    cpu = platform.processor() or "cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu}, {os.cpu_count()} cores; "
          f"load average at start {os.getloadavg()[0]:.2f}; {a.seconds} s per run after a 5 s warm-up\n")
    with tempfile.TemporaryDirectory() as tmp:
        if "cameras" in parts:
            part_cameras(vigil, tmp, [int(x) for x in a.counts.split(",")], a.seconds)
            print()
        if "decode" in parts:
            part_decode(vigil, tmp)
            print()
        if "gating" in parts:
            part_gating(vigil, tmp, a.seconds, a.gating_scenes.split(","))
            print()
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
