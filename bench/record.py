#!/usr/bin/env python3
"""Recording benchmark: vigil recording N cameras against one ffmpeg per
camera writing 10 s MP4 segments, in the same run.

For each N: `vigil camsim` serves N H.264 cameras (1920x1080-sized, 2 Mbps,
25 fps, GOP 50; the helpers of bench/ingest.py); a `vigil run` node ingests
and records all of them (fMP4 segments of 60 s, 1 s fragments, SQLite index)
for DURATION seconds. We read from /proc and /metrics:
  - vigil's CPU seconds per stream-minute (ingest and recording together),
  - bytes written per byte received (vigil_record_bytes_total over
    vigil_camera_bytes_total): the container's overhead,
  - p50/p99 time from a frame's arrival to its bytes handed to the kernel
    (vigil_record_write_latency_seconds; a frame waits for its fragment, so
    this is at least the fragment length for the first frame of a fragment),
  - index rows written per second (vigil_record_index_writes_total).
Then, for N up to --ffmpeg-max, the same cameras are recorded by one
`ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 10
-reset_timestamps 1 out%03d.mp4` each, and we report the CPU ratio.

Every figure is measured here, in this run; nothing is assumed.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import (PAGE, wait_online, thread_cpu, cpu_seconds, free_port, metrics, msum, rss_bytes,  # noqa: E402
                    start, start_camsim, start_node, stop)
from benchtmp import add_keep_option, make_tmpdir  # noqa: E402


def quantile(m, name, q):
    for labels, v in m.get(name, []):
        if f'quantile="{q}"' in labels:
            return v
    return None


def writer_cpu(pid):
    """CPU seconds of the node's recording writer threads (named rec-writer*), per thread."""
    return {name: s for name, s in thread_cpu(pid).items() if name.startswith("rec-writer")}


def start_recording_node(vigil, n, sim_port, tmp, workers):
    """Starts a node recording cameras cam1..camN of the camsim at sim_port.
    BENCH_RECORD_CFG in the environment (a JSON object) is merged into its
    "record" config, so that an A/B run (bench/profile.py --env-b) can set a
    recorder option for one node only."""
    http_port = free_port()
    root = os.path.join(tmp, "rec")
    cfg = {"log_level": "warn", "workers": workers, "auth": {"enabled": False},
           "http": {"bind": "127.0.0.1", "port": http_port},
           "rtsp_server": {"bind": "127.0.0.1", "port": free_port()},
           "database": {"path": os.path.join(tmp, "vigil.db")},
           "record": {"enabled": True, "roots": [{"path": root}], "segment_s": 60, "fragment_ms": 1000},
           "cameras": [{"id": f"cam{i}", "url": f"rtsp://127.0.0.1:{sim_port}/cam{i}"}
                       for i in range(1, n + 1)]}
    cfg["record"].update(json.loads(os.environ.get("BENCH_RECORD_CFG", "{}")))
    path = os.path.join(tmp, "record.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = start([vigil, "run", "-c", path], open(os.path.join(tmp, "vigil.log"), "w"))
    return p, http_port, wait_online(http_port, n), root


def bench_vigil(vigil, n, duration, tmp, workers):
    sim_port = free_port()
    sim = start_camsim(vigil, n, sim_port, os.path.join(tmp, f"camsim-{n}.log"), workers)
    node, http_port, online, root = start_recording_node(vigil, n, sim_port, tmp, workers)
    time.sleep(5)
    m0, c0, w0, t0 = metrics(http_port), cpu_seconds(node.pid), writer_cpu(node.pid), time.time()
    time.sleep(duration)
    m1, c1, w1, t1 = metrics(http_port), cpu_seconds(node.pid), writer_cpu(node.pid), time.time()
    load = os.getloadavg()
    rss = rss_bytes(node.pid)
    stop(node)
    elapsed = t1 - t0

    def delta(name):
        return msum(m1, name) - msum(m0, name)

    received = delta("vigil_camera_bytes_total")
    res = {
        "n": n, "online": online, "seconds": round(elapsed, 1),
        "vigil_cpu_s": round(c1 - c0, 2),
        "vigil_cpu_s_per_stream_min": (c1 - c0) / n / (elapsed / 60),
        "vigil_rss_mib": rss / 2**20,
        "writer_threads_cpu_s": {k: round(v - w0.get(k, 0.0), 2) for k, v in sorted(w1.items())},
        "load_avg_1_5_15": [round(x, 2) for x in load],
        "frames_received": delta("vigil_camera_frames_total"),
        "frames_expected": n * 25 * elapsed,
        "bytes_received": received,
        "bytes_written": delta("vigil_record_bytes_total"),
        "written_per_received": delta("vigil_record_bytes_total") / max(received, 1),
        "dropped_frames": delta("vigil_record_dropped_frames_total"),
        "write_errors": delta("vigil_record_write_errors_total"),
        "index_writes_per_s": delta("vigil_record_index_writes_total") / elapsed,
        "index_errors": delta("vigil_record_index_errors_total"),
        "write_latency_p50_s": quantile(m1, "vigil_record_write_latency_seconds", "0.5"),
        "write_latency_p99_s": quantile(m1, "vigil_record_write_latency_seconds", "0.99"),
        "writer_queue_p50_s": quantile(m1, "vigil_record_writer_queue_seconds", "0.5"),
        "writer_queue_p99_s": quantile(m1, "vigil_record_writer_queue_seconds", "0.99"),
    }
    shutil.rmtree(root, ignore_errors=True)
    return sim, sim_port, res


def bench_ffmpeg(n, sim_port, duration, tmp):
    procs = []
    for i in range(1, n + 1):
        d = os.path.join(tmp, "ffmpeg", f"cam{i}")
        os.makedirs(d, exist_ok=True)
        procs.append(start(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
                            f"rtsp://127.0.0.1:{sim_port}/cam{i}", "-c", "copy", "-f", "segment",
                            "-segment_time", "10", "-reset_timestamps", "1", os.path.join(d, "out%03d.mp4")],
                           subprocess.DEVNULL))
    time.sleep(5)
    alive = [p for p in procs if p.poll() is None]
    c0, t0 = sum(cpu_seconds(p.pid) for p in alive), time.time()
    time.sleep(duration)
    alive = [p for p in alive if p.poll() is None]
    c1, t1 = sum(cpu_seconds(p.pid) for p in alive), time.time()
    rss = sum(rss_bytes(p.pid) for p in alive)
    for p in procs:
        stop(p)
    shutil.rmtree(os.path.join(tmp, "ffmpeg"), ignore_errors=True)
    elapsed = t1 - t0
    return {"n": n, "alive": len(alive), "cpu_s": round(c1 - c0, 2),
            "cpu_s_per_stream_min": (c1 - c0) / max(len(alive), 1) / (elapsed / 60),
            "rss_kib_per_stream": rss / 1024 / max(len(alive), 1)}


def filesystem_of(path):
    """The filesystem type and device a path is on (where the recordings go)."""
    r = subprocess.run(["df", "--output=fstype,source,target", path], capture_output=True, text=True)
    return " ".join(r.stdout.split()[4:]) if r.returncode == 0 else "unknown"


def bench_increment(vigil, n, duration, tmp, workers):
    """What recording adds to ingest: one node that only ingests and one that
    ingests and records, from the same camsim at the same time (the same load
    on a shared machine). Returns both nodes' CPU per stream-minute, their
    difference and the recording node's threads."""
    sim_port = free_port()
    sim = start_camsim(vigil, n, sim_port, os.path.join(tmp, f"camsim-{n}.log"), workers)
    os.makedirs(os.path.join(tmp, "ingest"))
    os.makedirs(os.path.join(tmp, "record"))
    nodes = []
    try:
        ing, ing_port, _, ing_online = start_node(vigil, n, sim_port, os.path.join(tmp, "ingest"), workers)
        nodes.append(ing)
        rec, rec_port, rec_online, root = start_recording_node(vigil, n, sim_port, os.path.join(tmp, "record"),
                                                               workers)
        nodes.append(rec)
        time.sleep(5)
        t0 = time.time()
        before = [(metrics(p), cpu_seconds(nd.pid), thread_cpu(nd.pid)) for nd, p in ((ing, ing_port),
                                                                                      (rec, rec_port))]
        time.sleep(duration)
        after = [(metrics(p), cpu_seconds(nd.pid), thread_cpu(nd.pid)) for nd, p in ((ing, ing_port),
                                                                                      (rec, rec_port))]
        el = time.time() - t0
        load = os.getloadavg()
    finally:
        for nd in nodes:
            stop(nd)
        stop(sim)
    out = {"n": n, "seconds": round(el, 1), "online": [ing_online, rec_online],
           "load_avg_1_5_15": [round(x, 2) for x in load], "recordings_fs": filesystem_of(tmp)}
    for label, (m0, c0, th0), (m1, c1, th1) in zip(("ingest", "record"), before, after):
        out[label] = {
            "cpu_s": round(c1 - c0, 2),
            "cpu_s_per_stream_min": (c1 - c0) / n / (el / 60),
            "frames": msum(m1, "vigil_camera_frames_total") - msum(m0, "vigil_camera_frames_total"),
            "rec_dropped": msum(m1, "vigil_record_dropped_frames_total") -
            msum(m0, "vigil_record_dropped_frames_total"),
            "threads": {k: round(th1.get(k, 0) - v, 2) for k, v in th0.items() if th1.get(k, 0) - v > 0.05}}
    out["increment_cpu_s_per_stream_min"] = (out["record"]["cpu_s_per_stream_min"] -
                                             out["ingest"]["cpu_s_per_stream_min"])
    shutil.rmtree(root, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--n", default="100,500")
    ap.add_argument("--duration", type=int, default=120)
    ap.add_argument("--ffmpeg-max", type=int, default=100,
                    help="largest N at which one ffmpeg per camera is also run")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--json", help="write the results here as JSON")
    ap.add_argument("--increment", action="store_true",
                    help="instead: an ingest-only node and a recording node side by side, for what recording adds")
    ap.add_argument("--root-dir", help="parent directory of the recordings (default: a new directory in $TMPDIR)")
    add_keep_option(ap)
    a = ap.parse_args()
    tmp = make_tmpdir("vigil-bench-record-", a.keep, a.root_dir)
    if a.increment:
        try:
            for n in [int(x) for x in a.n.split(",")]:
                print(json.dumps(bench_increment(a.vigil, n, a.duration, tmp, a.workers)), flush=True)
        finally:
            if not a.keep:
                shutil.rmtree(tmp, ignore_errors=True)
        return
    results = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
                          f"{os.sysconf('SC_PHYS_PAGES') * PAGE / 2**30:.0f} GiB",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "recordings_fs": filesystem_of(tmp), "runs": []}
    try:
        for n in [int(x) for x in a.n.split(",")]:
            sim, sim_port, res = bench_vigil(a.vigil, n, a.duration, tmp, a.workers)
            if n <= a.ffmpeg_max:
                ff = bench_ffmpeg(n, sim_port, a.duration, tmp)
                res["ffmpeg"] = ff
                res["cpu_ratio_ffmpeg_over_vigil"] = (ff["cpu_s_per_stream_min"] /
                                                      max(res["vigil_cpu_s_per_stream_min"], 1e-9))
            stop(sim)
            print(json.dumps(res), flush=True)
            results["runs"].append(res)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
