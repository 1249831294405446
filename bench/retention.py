#!/usr/bin/env python3
"""Intelligent retention benchmark: bytes stored against continuous recording
of the same stream, over a simulated day compressed in time.

One `vigil camsim` camera (camsim's real bitrate, 2 Mbps, 25 fps, GOP 50 by
default) is recorded twice by one `vigil run` node, as two cameras reading
the same RTSP URL: "continuous" (mode continuous) and "intelligent" (mode
intelligent, pre-roll 5 s, post-roll 5 s). With --sub-size, a second camsim
serves a low-resolution version of the stream (--sub-size, --sub-bitrate,
same GOP), configured as camera "sub" (mode off), and a third camera,
"intelligent_sub", records the main stream like "intelligent" but with
"substream": "sub": every frame of the substream while idle. For DURATION seconds, manual triggers
(POST /api/v1/cameras/intelligent/record) make the intelligent camera full
quality EVENT_FRACTION of the time, in events of EVENT_S seconds placed at
random (seeded) without overlap: a day with events 10% of the time, played
faster. At the end vigil stops and we read the index and the files:

- bytes stored by each camera (the sum of its segment files), and the saving;
- that every second of every trigger lies in full-quality segments of the
  intelligent camera (from the index), and that those segments hold every
  frame (video packets per second of media, read by ffprobe);
- that the keyframes-only segments hold only keyframes.

Every figure is measured here, in this run; the Markdown printed at the end
goes into docs/BENCHMARKS.md.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import random
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from benchtmp import make_tmpdir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def wait_http(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("vigil did not answer")


def schedule(duration, fraction, event_s, seed):
    """Non-overlapping event starts covering `fraction` of [warmup, duration - tail)."""
    rng = random.Random(seed)
    warmup, tail = 15, 15
    n = max(1, round((duration - warmup - tail) * fraction / event_s))
    slots = int((duration - warmup - tail) // event_s)
    # Events at least one slot apart, so that post-roll and pre-roll of two
    # events do not merge into one.
    picks = sorted(rng.sample(range(0, slots, 2), min(n, len(range(0, slots, 2)))))
    return [warmup + p * event_s for p in picks]


def video_flags(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
                        "-of", "csv=p=0", path], capture_output=True, timeout=120)
    return [x.strip() for x in r.stdout.decode().splitlines() if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--duration", type=int, default=600, help="seconds of recording (the compressed day)")
    ap.add_argument("--event-fraction", type=float, default=0.10)
    ap.add_argument("--event-s", type=int, default=10, help="length of one trigger")
    ap.add_argument("--bitrate", default="2000k")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--gop", type=int, default=50)
    ap.add_argument("--source", default="/usr/share/doc/opencv-doc/examples/data/vtest.avi",
                    help="camsim source: a video file, or 'pattern'")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sub-size", default="", help="also measure idle recording of a substream of this size")
    ap.add_argument("--sub-bitrate", default="256k")
    ap.add_argument("--keep", action="store_true", help="keep the recordings directory")
    a = ap.parse_args()
    if a.source != "pattern" and not os.path.exists(a.source):
        a.source = "pattern"

    # Removed at exit, also after an error or Ctrl-C, unless --keep.
    tmp = make_tmpdir("vigil-bench-retention-", a.keep)
    rtsp, http, vrtsp = free_port(), free_port(), free_port()
    sim = subprocess.Popen([a.vigil, "camsim", "--port", str(rtsp), "--cameras", "1", "--bitrate", a.bitrate,
                            "--size", a.size, "--gop", str(a.gop), "--source", a.source, "--duration-s", "20",
                            "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = ""
    while "serving" not in line:
        line = sim.stdout.readline()
        if not line and sim.poll() is not None:
            sys.exit("camsim failed")
    url = f"rtsp://127.0.0.1:{rtsp}/cam1"
    sub_sim = None
    if a.sub_size:
        sub_rtsp = free_port()
        sub_sim = subprocess.Popen([a.vigil, "camsim", "--port", str(sub_rtsp), "--cameras", "1", "--bitrate",
                                    a.sub_bitrate, "--size", a.sub_size, "--gop", str(a.gop), "--source", a.source,
                                    "--duration-s", "20", "--workers", "1"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        line = ""
        while "serving" not in line:
            line = sub_sim.stdout.readline()
            if not line and sub_sim.poll() is not None:
                sys.exit("camsim (substream) failed")
    root = os.path.join(tmp, "rec")
    cfg = {"auth": {"enabled": False}, "http": {"bind": "127.0.0.1", "port": http},
           "rtsp_server": {"bind": "127.0.0.1", "port": vrtsp},
           "database": {"path": os.path.join(tmp, "vigil.db")}, "log_level": "warn",
           "record": {"enabled": True, "root": root, "segment_s": 60},
           "cameras": [{"id": "continuous", "url": url, "record": {"mode": "continuous"}},
                       {"id": "intelligent", "url": url,
                        "record": {"mode": "intelligent", "pre_roll_s": 5, "post_roll_s": 5}}]}
    cams = ["continuous", "intelligent"]
    if sub_sim:
        cams.append("intelligent_sub")
        cfg["cameras"] += [{"id": "sub", "url": f"rtsp://127.0.0.1:{sub_rtsp}/cam1", "record": {"mode": "off"}},
                           {"id": "intelligent_sub", "url": url,
                            "record": {"mode": "intelligent", "pre_roll_s": 5, "post_roll_s": 5,
                                       "substream": "sub"}}]
    with open(os.path.join(tmp, "vigil.json"), "w") as f:
        json.dump(cfg, f)
    node = subprocess.Popen([a.vigil, "run", "-c", os.path.join(tmp, "vigil.json")],
                            stdout=open(os.path.join(tmp, "vigil.log"), "w"), stderr=subprocess.STDOUT)
    wait_http(http)
    starts = schedule(a.duration, a.event_fraction, a.event_s, a.seed)
    t0 = time.time()
    triggers = []
    for s in starts:
        time.sleep(max(0, t0 + s - time.time()))
        st, body = post(f"http://127.0.0.1:{http}/api/v1/cameras/intelligent/record", {"duration_s": a.event_s})
        assert st == 202, body
        if sub_sim:
            st2, body2 = post(f"http://127.0.0.1:{http}/api/v1/cameras/intelligent_sub/record",
                              {"duration_s": a.event_s})
            assert st2 == 202, body2
        # The trigger as the server set it: [until - duration, until).
        until = datetime.datetime.strptime(body["until"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        triggers.append((until - a.event_s, until))
    time.sleep(max(0, t0 + a.duration - time.time()))
    node.terminate()
    node.wait(60)
    sim.terminate()
    sim.wait(30)
    if sub_sim:
        sub_sim.terminate()
        sub_sim.wait(30)

    db = sqlite3.connect(os.path.join(tmp, "vigil.db"))
    rows = db.execute("SELECT camera, root, path, quality, start_us, end_us, bytes FROM rec_segments "
                      "ORDER BY camera, start_us").fetchall()
    stored = {}
    for cam in cams:
        stored[cam] = sum(os.path.getsize(f) for f in glob.glob(os.path.join(root, cam, "*/*/*/*/*.mp4")))
    saving = 1 - stored["intelligent"] / stored["continuous"]

    def check(camera):
        """(uncovered trigger seconds, full fps, idle frames, non-keyframes among idle keyframes-only frames,
        idle media seconds) of camera."""
        # Every second of every trigger inside full-quality footage: the parts of
        # each trigger's range that no full segment's [start, end) covers.
        full = sorted((s / 1e6, e / 1e6) for c, _, _, q, s, e, _ in rows if c == camera and q == "full")
        uncovered = 0.0
        for ts, te in triggers:
            t = ts
            for s, e in full:
                if e <= t or s >= te:
                    continue
                if s > t:
                    uncovered += s - t
                t = max(t, e)
            uncovered += max(0.0, te - t)
        # Full segments hold every frame; keyframes segments only keyframes.
        nonkey_in_keyframes, idle_frames, full_frames, full_media_s, idle_media_s = 0, 0, 0, 0.0, 0.0
        for c, r, p, q, s, e, _ in rows:
            if c != camera:
                continue
            flags = video_flags(os.path.join(r, p))
            if q == "full":
                full_frames += len(flags)
                full_media_s += (e - s) / 1e6
            else:
                idle_frames += len(flags)
                idle_media_s += (e - s) / 1e6
                if q == "keyframes":
                    nonkey_in_keyframes += sum(1 for f in flags if not f.startswith("K"))
        fps = full_frames / full_media_s if full_media_s else 0
        return uncovered, fps, idle_frames, nonkey_in_keyframes, idle_media_s

    uncovered, fps, keyframes_frames, nonkey_in_keyframes, _ = check("intelligent")
    if sub_sim:
        sub_uncovered, sub_fps, sub_frames, _, sub_media_s = check("intelligent_sub")
        sub_saving = 1 - stored["intelligent_sub"] / stored["continuous"]

    event_s = sum(te - ts for ts, te in triggers)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {cpu}, "
          f"{os.cpu_count()} cores; command: bench/retention.py --duration {a.duration} "
          f"--event-fraction {a.event_fraction} --event-s {a.event_s} --bitrate {a.bitrate} --size {a.size} "
          f"--gop {a.gop} --source {os.path.basename(a.source)} --seed {a.seed}"
          + (f" --sub-size {a.sub_size} --sub-bitrate {a.sub_bitrate}" if sub_sim else "")
          + f"; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| recorded time | {a.duration} s (a day compressed {86400 / a.duration:.0f}x) |")
    print(f"| triggers | {len(triggers)} x {a.event_s} s = {event_s:.0f} s ({100 * event_s / a.duration:.1f}% of the time), "
          f"plus 5 s pre-roll and 5 s post-roll each |")
    print(f"| continuous: bytes stored | {stored['continuous']:,} |")
    print(f"| intelligent: bytes stored | {stored['intelligent']:,} |")
    print(f"| **saving** | **{100 * saving:.1f}%** |")
    print(f"| trigger time outside full-quality segments | {uncovered:.3f} s of {event_s:.0f} s |")
    print(f"| full-quality segments: video frames per second of media | {fps:.2f} (stream: 25) |")
    print(f"| keyframes-only segments: frames / non-keyframes among them | {keyframes_frames} / {nonkey_in_keyframes} |")
    if sub_sim:
        print(f"| intelligent with a {a.sub_size} substream at {a.sub_bitrate}: bytes stored | "
              f"{stored['intelligent_sub']:,} |")
        print(f"| **saving with the substream** | **{100 * sub_saving:.1f}%** |")
        print(f"| substream: trigger time outside full-quality segments | {sub_uncovered:.3f} s of {event_s:.0f} s |")
        print(f"| substream: full-quality video frames per second of media | {sub_fps:.2f} |")
        print(f"| substream segments: video frames per second of media | "
              f"{sub_frames / sub_media_s if sub_media_s else 0:.2f} ({sub_media_s:.0f} s) |")
    ok = saving >= 0.5 and uncovered == 0 and nonkey_in_keyframes == 0 and fps >= 24
    if sub_sim:
        ok = ok and sub_saving >= 0.5 and sub_uncovered == 0 and sub_fps >= 24
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
