#!/usr/bin/env python3
"""Profiling helper for the ingest and recording paths.

Starts `vigil camsim` with N cameras and a `vigil run` node that ingests
them (and records them with --record), waits for every camera to be
online, then measures the node for DURATION seconds: CPU seconds per
stream-minute from /proc, and optionally runs a command against the node's
pid (e.g. `--cmd "perf record -e cpu-clock -g -o perf.data -p {pid} -- sleep 20"`).
With --b, a second node (another build, or the same one with --env-b)
ingests the same cameras from the same camsim at the same time, so that an
A/B comparison sees the same load on a shared machine:

    bench/profile.py --vigil build-old/vigil --b build/vigil --n 500 --duration 20

or the same build with a setting changed for one node only:

    bench/profile.py --b build/vigil --env-a VIGIL_IO_URING=0 --n 500
"""
import argparse
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import cpu_seconds, free_port, metrics, msum, start_camsim, start_node, stop, thread_cpu  # noqa: E402
from record import start_recording_node  # noqa: E402
from benchtmp import add_keep_option, make_tmpdir  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="record every camera too")
    ap.add_argument("--b", help="a second vigil binary measured side by side (A/B)")
    ap.add_argument("--env-a", default="", help="NAME=VALUE[,NAME=VALUE] for the first node only")
    ap.add_argument("--env-b", default="", help="NAME=VALUE[,NAME=VALUE] for the second node only")
    ap.add_argument("--cmd", help="run this during the measurement; {pid} is the (last) node's pid, "
                    "{pids} every node's pid (A first)")
    add_keep_option(ap)
    a = ap.parse_args()
    # Removed at exit (recordings of --record runs are large) unless --keep.
    tmp = make_tmpdir("vigil-prof-", a.keep)
    sim_port = free_port()
    sim = start_camsim(a.vigil, a.n, sim_port, os.path.join(tmp, "camsim.log"), a.workers)
    nodes = []
    for label, binary in [("A", a.vigil)] + ([("B", a.b)] if a.b else []):
        ntmp = os.path.join(tmp, label)
        os.makedirs(ntmp)
        saved = dict(os.environ)
        for kv in filter(None, (a.env_b if label == "B" else a.env_a).split(",")):
            k, v = kv.split("=", 1)
            os.environ[k] = v
        if a.record:
            node, http_port, online, _ = start_recording_node(binary, a.n, sim_port, ntmp, a.workers)
        else:
            node, http_port, _, online = start_node(binary, a.n, sim_port, ntmp, a.workers)
        os.environ.clear()
        os.environ.update(saved)
        nodes.append((label, binary, node, http_port, online))
    try:
        time.sleep(5)
        t0 = time.time()
        before = [(metrics(hp), cpu_seconds(nd.pid), thread_cpu(nd.pid)) for _, _, nd, hp, _ in nodes]
        if a.cmd:
            pids = " ".join(str(nd.pid) for _, _, nd, _, _ in nodes)
            subprocess.run(shlex.split(a.cmd.format(pid=nodes[-1][2].pid, pids=pids)), check=False)
            left = a.duration - (time.time() - t0)
            if left > 0:
                time.sleep(left)
        else:
            time.sleep(a.duration)
        after = [(metrics(hp), cpu_seconds(nd.pid), thread_cpu(nd.pid)) for _, _, nd, hp, _ in nodes]
        t1 = time.time()
    finally:
        for _, _, nd, _, _ in nodes:
            stop(nd)
        stop(sim)
    el = t1 - t0
    for (label, binary, _, _, online), (m0, c0, th0), (m1, c1, th1) in zip(nodes, before, after):
        frames = msum(m1, "vigil_camera_frames_total") - msum(m0, "vigil_camera_frames_total")
        drops = msum(m1, "vigil_record_dropped_frames_total") - msum(m0, "vigil_record_dropped_frames_total")
        per = (c1 - c0) / a.n / (el / 60)
        threads = {k: round(th1.get(k, 0) - v, 2) for k, v in th0.items() if th1.get(k, 0) - v > 0.05}
        print(f"{label} {binary} n={a.n} online={online} record={int(a.record)} seconds={el:.1f} "
              f"cpu_s={c1 - c0:.2f} cpu_s_per_stream_min={per:.4f} frames={frames:.0f}/{a.n * 25 * el:.0f} "
              f"rec_dropped={drops:.0f} threads={threads}", flush=True)


if __name__ == "__main__":
    main()
