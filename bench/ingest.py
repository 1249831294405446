#!/usr/bin/env python3
"""Ingest benchmark: vigil against one ffmpeg per camera, in the same run.

For each N: `vigil camsim` serves N H.264 cameras (1920x1080-sized, 2 Mbps,
25 fps, GOP 50); a `vigil run` node ingests all of them over RTSP/TCP for
DURATION seconds. We read the node's CPU time and resident memory from /proc
and its counters from /metrics. Then, for the N where it fits
(--ffmpeg-max), the same cameras are read by one
`ffmpeg -rtsp_transport tcp -i URL -c copy -f null -` each, which is what an
NVR that spawns ffmpeg per camera pays, and we report the ratio.

It also measures the latency vigil adds between ingest and restream egress
(median and p99 from the RTSP server's own histogram, while one ffmpeg reads
the restream of the first camera) and how many RTSP/TCP readers of one
camera one core serves.

Every figure is measured here, in this run; nothing is assumed.
"""
import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from benchtmp import add_keep_option, make_tmpdir

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid):
    """CPU seconds per thread name of pid (threads of one name summed)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        name = head.split("(", 1)[1]
        fields = rest.split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out


def msum(m, name):
    return sum(v for _, v in m.get(name, []))


def cameras_online(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/cameras", timeout=10) as r:
        cams = json.loads(r.read())["cameras"]
    return sum(1 for c in cams if c["state"] == "online"), len(cams)


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_text(path, text, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            if text in f.read():
                return True
        time.sleep(0.2)
    return False


def wait_online(http_port, n, timeout=120):
    """Waits until n cameras are online (or the timeout); returns how many are."""
    deadline = time.time() + timeout
    online = 0
    while time.time() < deadline:
        try:
            online, _ = cameras_online(http_port)
            if online == n:
                break
        except OSError:
            pass
        time.sleep(0.5)
    return online


def start_camsim(vigil, n, port, log_path, workers):
    log = open(log_path, "w")
    p = start([vigil, "camsim", "--bind", "127.0.0.1", "--port", str(port), "--cameras", str(n),
               "--codec", "h264", "--size", "1920x1080", "--fps", "25", "--bitrate", "2000k",
               "--gop", "50", "--workers", str(workers)], log)
    if not wait_text(log_path, "serving", 300):
        stop(p)
        sys.exit(f"camsim did not start; see {log_path}")
    return p


def start_node(vigil, n, sim_port, tmp, workers, extra_cams=()):
    http_port, rtsp_port = free_port(), free_port()
    cfg = {"log_level": "warn", "workers": workers, "auth": {"enabled": False},
           "http": {"bind": "127.0.0.1", "port": http_port},
           "rtsp_server": {"bind": "127.0.0.1", "port": rtsp_port},
           "cameras": [{"id": f"cam{i}", "url": f"rtsp://127.0.0.1:{sim_port}/cam{i}"}
                       for i in range(1, n + 1)]}
    path = os.path.join(tmp, "bench.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    log_path = os.path.join(tmp, "vigil.log")
    p = start([vigil, "run", "-c", path], open(log_path, "w"))
    return p, http_port, rtsp_port, wait_online(http_port, n)


def bench_vigil(vigil, n, duration, tmp, workers):
    sim_port = free_port()
    sim = start_camsim(vigil, n, sim_port, os.path.join(tmp, f"camsim-{n}.log"), workers)
    node, http_port, rtsp_port, online = start_node(vigil, n, sim_port, tmp, workers)
    # One viewer on the restream of cam1, so that egress latency is measured.
    viewer = start(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                    f"rtsp://127.0.0.1:{rtsp_port}/cam1", "-c", "copy", "-f", "null", "-"],
                   subprocess.DEVNULL)
    time.sleep(5)
    load0 = os.getloadavg()[0]
    m0, c0, s0, t0 = metrics(http_port), cpu_seconds(node.pid), cpu_seconds(sim.pid), time.time()
    time.sleep(duration)
    m1, c1, s1, t1 = metrics(http_port), cpu_seconds(node.pid), cpu_seconds(sim.pid), time.time()
    load1 = os.getloadavg()[0]
    rss = rss_bytes(node.pid)
    stop(viewer)
    stop(node)
    elapsed = t1 - t0
    frames = msum(m1, "vigil_camera_frames_total") - msum(m0, "vigil_camera_frames_total")
    lat = {q: v for lbl, v in m1.get("vigil_rtsp_egress_latency_seconds", []) for q in [lbl]}
    res = {
        "n": n, "online": online, "seconds": round(elapsed, 1),
        "vigil_cpu_s": round(c1 - c0, 2),
        "vigil_cpu_s_per_stream_min": (c1 - c0) / n / (elapsed / 60),
        # Per stream-minute actually delivered (25 frames a second): when
        # camsim falls behind on a loaded machine, the figure above flatters
        # vigil, which then has fewer frames to handle.
        "vigil_cpu_s_per_delivered_stream_min": (c1 - c0) / max(frames / 25 / 60, 1e-9),
        "vigil_cpu_us_per_frame": (c1 - c0) / max(frames, 1) * 1e6,
        "load_average": [round(load0, 1), round(load1, 1)],
        "io_uring": os.environ.get("VIGIL_IO_URING", "1") != "0",
        "vigil_rss_mib": rss / 2**20,
        "vigil_rss_kib_per_stream": rss / 1024 / n,
        "camsim_cpu_s": round(s1 - s0, 2),
        "frames_expected": n * 25 * elapsed, "frames": frames,
        "rtp_lost": msum(m1, "vigil_camera_rtp_packets_lost_total") - msum(m0, "vigil_camera_rtp_packets_lost_total"),
        "reconnects": msum(m1, "vigil_camera_reconnects_total") - msum(m0, "vigil_camera_reconnects_total"),
        "egress_latency": lat,
    }
    return sim, sim_port, res


def build_floor(tmp):
    """Builds bench/recv_floor.c (the kernel's TCP receive alone) with cc."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recv_floor.c")
    out = os.path.join(tmp, "recv_floor")
    subprocess.run(["cc", "-O2", "-pthread", "-o", out, src], check=True)
    return out


def bench_floor(binary, n, sim_port, duration, threads, quantum_us, tmp):
    """CPU of N sessions that only read their interleaved bytes and drop them."""
    log_path = os.path.join(tmp, f"floor-{n}-{threads}-{quantum_us}.log")
    p = start([binary, "127.0.0.1", str(sim_port), str(n), "--threads", str(threads),
               "--quantum-us", str(quantum_us)], open(log_path, "w"))
    wait_text(log_path, "playing", 120)
    time.sleep(5)
    c0, t0 = cpu_seconds(p.pid), time.time()
    time.sleep(duration)
    c1, t1 = cpu_seconds(p.pid), time.time()
    stop(p)
    with open(log_path) as f:
        text = f.read()
    m = re.search(r"bytes (\d+) wakeups (\d+) reads (\d+)", text)
    playing = re.search(r"playing (\d+)", text)
    return {"threads": threads, "quantum_us": quantum_us,
            "playing": int(playing.group(1)) if playing else 0, "cpu_s": round(c1 - c0, 2),
            "cpu_s_per_stream_min": (c1 - c0) / n / ((t1 - t0) / 60),
            "reads_per_wakeup": int(m.group(3)) / max(int(m.group(2)), 1) if m else None}


def bench_ffmpeg(n, sim_port, duration):
    procs = [start(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                    f"rtsp://127.0.0.1:{sim_port}/cam{i}", "-c", "copy", "-f", "null", "-"],
                   subprocess.DEVNULL) for i in range(1, n + 1)]
    time.sleep(5)
    alive = [p for p in procs if p.poll() is None]
    c0, t0 = sum(cpu_seconds(p.pid) for p in alive), time.time()
    time.sleep(duration)
    alive = [p for p in alive if p.poll() is None]
    c1, t1 = sum(cpu_seconds(p.pid) for p in alive), time.time()
    rss = sum(rss_bytes(p.pid) for p in alive)
    for p in procs:
        stop(p)
    elapsed = t1 - t0
    return {"n": n, "alive": len(alive), "cpu_s": round(c1 - c0, 2),
            "cpu_s_per_stream_min": (c1 - c0) / max(len(alive), 1) / (elapsed / 60),
            "rss_kib_per_stream": rss / 1024 / max(len(alive), 1)}


async def rtsp_reader(port, path, counter, stop_at):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    url = f"rtsp://127.0.0.1:{port}/{path}"

    async def req(lines):
        w.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        body = await r.readexactly(int(length.group(1))) if length else b""
        return head.decode(errors="replace"), body.decode(errors="replace")

    _, sdp = await req([f"DESCRIBE {url} RTSP/1.0", "CSeq: 1", "Accept: application/sdp"])
    controls = re.findall(r"a=control:(\S+)", sdp)
    controls = [c for c in controls if c != "*"] or ["trackID=0"]
    session = None
    for i, c in enumerate(controls):
        target = c if c.startswith("rtsp://") else f"{url}/{c}"
        lines = [f"SETUP {target} RTSP/1.0", f"CSeq: {2 + i}",
                 f"Transport: RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"]
        if session:
            lines.append(f"Session: {session}")
        head, _ = await req(lines)
        session = re.search(r"(?i)session:\s*([^;\r\n]+)", head).group(1).strip()
    w.write(f"PLAY {url} RTSP/1.0\r\nCSeq: 9\r\nSession: {session}\r\n\r\n".encode())
    await w.drain()
    while time.time() < stop_at:
        data = await r.read(65536)
        if not data:
            break
        counter[0] += len(data)
    w.close()


def bench_readers(vigil, readers, duration, tmp):
    sim_port = free_port()
    sim = start_camsim(vigil, 1, sim_port, os.path.join(tmp, "camsim-readers.log"), 1)
    node, http_port, rtsp_port, online = start_node(vigil, 1, sim_port, tmp, 0)
    time.sleep(2)
    base0, bt0 = cpu_seconds(node.pid), time.time()
    time.sleep(5)
    base = (cpu_seconds(node.pid) - base0) / (time.time() - bt0)
    counter = [0]

    async def run():
        stop_at = time.time() + duration + 5
        tasks = [asyncio.create_task(rtsp_reader(rtsp_port, "cam1", counter, stop_at)) for _ in range(readers)]
        await asyncio.sleep(4)
        c0, t0, b0 = cpu_seconds(node.pid), time.time(), counter[0]
        await asyncio.sleep(duration)
        c1, t1, b1 = cpu_seconds(node.pid), time.time(), counter[0]
        await asyncio.gather(*tasks, return_exceptions=True)
        return (c1 - c0) / (t1 - t0), (b1 - b0) * 8 / (t1 - t0) / readers

    load, bps = asyncio.run(run())
    stop(node)
    stop(sim)
    per_reader = max(load - base, 1e-9) / readers
    return {"readers": readers, "cores_used": round(load, 3), "idle_cores": round(base, 3),
            "mbit_per_reader": round(bps / 1e6, 2), "readers_per_core": int(1 / per_reader)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--n", default="100,250,500,1000")
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--ffmpeg-max", type=int, default=250,
                    help="largest N at which one ffmpeg per camera is also run")
    ap.add_argument("--readers", type=int, default=200)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--floor", action="store_true",
                    help="also run bench/recv_floor.c (read and drop only) against the same cameras: "
                         "one unpaced thread, and as many threads as vigil's workers paced like them")
    ap.add_argument("--json", help="write the results here as JSON")
    add_keep_option(ap)
    a = ap.parse_args()
    tmp = make_tmpdir("vigil-bench-", a.keep)
    results = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
                          f"{os.sysconf('SC_PHYS_PAGES') * PAGE / 2**30:.0f} GiB",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": []}
    floor = build_floor(tmp) if a.floor else None
    for n in [int(x) for x in a.n.split(",")]:
        sim, sim_port, res = bench_vigil(a.vigil, n, a.duration, tmp, a.workers)
        if floor:
            # Paced like vigil's workers (net/worker.c): 5 ms, 10 ms on a
            # worker with 32 to 127 sockets.
            paced_threads = a.workers or os.cpu_count()
            quantum = 10000 if 32 <= n / paced_threads < 128 else 5000
            res["floor"] = [bench_floor(floor, n, sim_port, a.duration, 1, 0, tmp),
                            bench_floor(floor, n, sim_port, a.duration, paced_threads, quantum, tmp)]
            for f in res["floor"]:
                f["vigil_over_floor"] = res["vigil_cpu_s_per_stream_min"] / max(f["cpu_s_per_stream_min"], 1e-9)
        if n <= a.ffmpeg_max:
            ff = bench_ffmpeg(n, sim_port, a.duration)
            res["ffmpeg"] = ff
            res["cpu_ratio_ffmpeg_over_vigil"] = ff["cpu_s_per_stream_min"] / max(res["vigil_cpu_s_per_stream_min"], 1e-9)
            res["cpu_ratio_ffmpeg_over_vigil_delivered"] = (
                ff["cpu_s_per_stream_min"] / max(res["vigil_cpu_s_per_delivered_stream_min"], 1e-9))
        stop(sim)
        print(json.dumps(res), flush=True)
        results["runs"].append(res)
    if a.readers:
        rd = bench_readers(a.vigil, a.readers, a.duration // 2 or 10, tmp)
        print(json.dumps(rd), flush=True)
        results["readers"] = rd
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
