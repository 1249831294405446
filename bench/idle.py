#!/usr/bin/env python3
"""Wake-ups of an idle node: per-thread context switches per second.

Starts `vigil run` with no cameras (events on, recording and the HTTP and
RTSP servers on their defaults, auth off), lets it settle, then counts each
thread's context switches (voluntary + involuntary, /proc/PID/task/*/status)
and the process's CPU time over --seconds. With --b, a second binary runs
the same config side by side in the same seconds (A/B):

    bench/idle.py --vigil build-old/vigil --b build/vigil --seconds 10
"""
import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import time

from benchtmp import add_keep_option, make_tmpdir

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def switches(pid):
    """{thread name (and how many threads have it): context switches summed over them}."""
    out = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/comm") as f:
                name = f.read().strip()
            n = 0
            with open(f"{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except OSError:
            continue
        out.setdefault(name, []).append(n)
    return {f"{k} (x{len(v)})" if len(v) > 1 else k: sum(v) for k, v in out.items()}


def cpu_seconds(pid):
    """CPU time of every thread in nanoseconds (schedstat), finer than the clock ticks of /proc/PID/stat."""
    ns = 0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/schedstat") as f:
                ns += int(f.read().split()[0])
        except OSError:
            continue
    return ns / 1e9


def start(binary, tmp, label):
    d = os.path.join(tmp, label)
    os.makedirs(d)
    cfg = {"log_level": "warn", "http": {"port": free_port(), "bind": "127.0.0.1"},
           "rtsp_server": {"port": free_port(), "bind": "127.0.0.1"}, "auth": {"enabled": False},
           "database": {"path": os.path.join(d, "vigil.db")},
           "record": {"enabled": True, "root": os.path.join(d, "rec")},
           "events": {"evidence_dir": os.path.join(d, "evidence")}, "cameras": []}
    path = os.path.join(d, "vigil.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return subprocess.Popen([binary, "run", "-c", path], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "vigil.log"), "w"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--b", help="a second vigil binary measured side by side")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--settle", type=float, default=3)
    add_keep_option(ap)
    a = ap.parse_args()
    tmp = make_tmpdir("vigil-bench-idle-", a.keep)
    nodes = [("A", a.vigil, start(a.vigil, tmp, "A"))]
    if a.b:
        nodes.append(("B", a.b, start(a.b, tmp, "B")))
    try:
        time.sleep(a.settle)
        for label, _, p in nodes:
            if p.poll() is not None:
                sys.exit(f"{label}: vigil exited with {p.returncode}: see {tmp}/{label}/vigil.log")
        before = [(switches(p.pid), cpu_seconds(p.pid)) for _, _, p in nodes]
        t0 = time.monotonic()
        time.sleep(a.seconds)
        el = time.monotonic() - t0
        after = [(switches(p.pid), cpu_seconds(p.pid)) for _, _, p in nodes]
    finally:
        for _, _, p in nodes:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    names = sorted(set().union(*(b.keys() for b, _ in after)))
    print(f"# {el:.1f} s, load average {os.getloadavg()[0]:.2f}")
    print("| thread | " + " | ".join(f"{label} ({binary}) wake-ups/s" for label, binary, _ in nodes) + " |")
    print("| --- |" + " --- |" * len(nodes))
    for name in names:
        cells = [f"{(a1.get(name, 0) - b0.get(name, 0)) / el:.1f}" for (b0, _), (a1, _) in zip(before, after)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    tot = [f"{(sum(a1.values()) - sum(b0.values())) / el:.1f}" for (b0, _), (a1, _) in zip(before, after)]
    cpu = [f"{100 * (c1 - c0) / el:.3f}%" for (_, c0), (_, c1) in zip(before, after)]
    print("| **all threads** | " + " | ".join(f"**{t}**" for t in tot) + " |")
    print("| CPU (of a core) | " + " | ".join(cpu) + " |")


if __name__ == "__main__":
    main()
