#!/usr/bin/env python3
"""Ingest by protocol: RTMP and SRT against RTSP, and vigil against nginx-rtmp.

One H.264 file is made once with ffmpeg (1920x1080, 25 fps, 2 Mbit/s, GOP
50, no B-frames, the parameters of camsim's clip and of bench/ingest.py)
and cached. For each configuration, N publishers each loop that file in
real time without re-encoding (`ffmpeg -re -stream_loop -1 -i clip.mp4 -c
copy`), so every protocol carries the same bitstream at the same bitrate:

  rtsp-push   RTSP ANNOUNCE/RECORD over TCP into vigil's RTSP server
  rtmp        FLV over RTMP into vigil's RTMP server (rtmp://.../live/pubK)
  srt         MPEG-TS over SRT into vigil's SRT listener (streamid=pubK)
  nginx-rtmp  the same RTMP publishers into nginx-rtmp (Debian's nginx-light
              and libnginx-mod-rtmp, one process, `live on`)
  rtmp-side-by-side  vigil's RTMP server and nginx-rtmp at once, N
              publishers each, over the same interval
  rtsp-pull   the reference of bench/ingest.py: vigil pulls N RTSP cameras
              from `vigil camsim` (camsim's own clip, same parameters)
  rtmp-pull   vigil's RTMP client plays N streams from nginx-rtmp, which the
              N publishers feed

Publishers are started spread over one GOP so that keyframes do not all
arrive at once. After every stream is up and a warm-up, the server's CPU
time (/proc/PID/stat, user + system) is read over DURATION seconds, with the
publishers' CPU read separately (it is shown, never counted). Resident
memory is the server's RSS at the end, and per stream above its RSS before
any publisher came. Frames and bytes come from vigil's /api/v1/cameras
counters (every stream must be online; frames expected = N x 25 fps x the
interval) and, for nginx, bytes from its rtmp_stat page.

Every figure is measured here, in this run; nothing is assumed.
"""
import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest  # noqa: E402
from ingest import (PAGE, cpu_seconds, free_port, metrics, msum, rss_bytes,  # noqa: E402
                    start_camsim, stop)
from benchtmp import add_keep_option, make_tmpdir  # noqa: E402

NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
FPS, GOP, SIZE, KBPS = 25, 50, "1920x1080", 2000
CONFIGS = ("rtsp-pull", "rtsp-push", "rtmp", "srt", "nginx-rtmp", "rtmp-side-by-side", "rtmp-pull")


# Every process started here, so that an error or ^C never leaves 50
# looping publishers behind on a shared machine.
STARTED = []


def start(args, log):
    p = ingest.start(args, log)
    STARTED.append(p)
    return p


def stop_all():
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()


def make_clip(cache_dir, seconds):
    """The shared bitstream: encoded once, then reused from cache_dir.

    A little temporal noise on the test pattern keeps the encoder at its
    target bitrate, as a real camera's sensor noise does; without it the
    pattern compresses far below 2 Mbit/s."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"clip-{SIZE}-{FPS}fps-{KBPS}k-gop{GOP}-{seconds}s.mp4")
    if not os.path.exists(path):
        tmp = path + ".part.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={SIZE}:rate={FPS},noise=alls=12:allf=t", "-t", str(seconds),
                        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
                        "-bf", "0", "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
                        "-b:v", f"{KBPS}k", "-maxrate", f"{KBPS}k", "-bufsize", f"{2 * KBPS}k", "-an", tmp],
                       check=True)
        os.replace(tmp, path)
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,profile,width,height,bit_rate,nb_frames:format=duration,size",
         "-of", "json", path], capture_output=True, check=True).stdout)
    st, fmt = probe["streams"][0], probe["format"]
    return path, {"file": os.path.basename(path), "codec": st["codec_name"], "profile": st.get("profile"),
                  "size": f"{st['width']}x{st['height']}", "frames": int(st.get("nb_frames", 0)),
                  "seconds": float(fmt["duration"]), "kbit_s": round(int(st["bit_rate"]) / 1000)}


def publisher_args(clip, kind, url):
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", clip,
            "-c", "copy"]
    if kind == "rtsp":
        return args + ["-f", "rtsp", "-rtsp_transport", "tcp", url]
    if kind == "srt":
        return args + ["-f", "mpegts", url]
    return args + ["-f", "flv", url]


def start_publishers(clip, kind, urls, log_dir):
    """One publisher per URL, spread over one GOP (2 s)."""
    procs = []
    for i, url in enumerate(urls):
        procs.append(start(publisher_args(clip, kind, url), open(os.path.join(log_dir, f"pub-{i}.log"), "w")))
        time.sleep(GOP / FPS / len(urls))
    return procs


def cpu_of(procs):
    total = 0.0
    for p in procs:
        try:
            total += cpu_seconds(p.pid)
        except OSError:  # exited: its CPU is lost, and it is counted as not alive
            pass
    return total


def http_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def vigil_cameras(http_port):
    return http_json(f"http://127.0.0.1:{http_port}/api/v1/cameras")["cameras"]


def start_vigil(vigil, tmp, workers, extra):
    http_port, rtsp_port = free_port(), free_port()
    cfg = {"log_level": "warn", "workers": workers,
           "http": {"bind": "127.0.0.1", "port": http_port},
           "rtsp_server": {"bind": "127.0.0.1", "port": rtsp_port},
           # Access control and the database are not what is measured here.
           "auth": {"enabled": False, "secret_key_file": os.path.join(tmp, "secret.key")},
           "database": {"path": ":memory:"}}
    cfg.update(extra)
    path = os.path.join(tmp, "vigil.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = start([vigil, "run", "-c", path], open(os.path.join(tmp, "vigil.log"), "w"))
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            http_json(f"http://127.0.0.1:{http_port}/api/v1/health")
            return p, http_port, rtsp_port
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.2)
    stop(p)
    sys.exit(f"vigil did not start; see {tmp}/vigil.log")


NGINX_CONF = """load_module {module};
daemon off;
master_process off;
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}
http {{ access_log off; client_body_temp_path {tmp}/body;
  server {{ listen 127.0.0.1:{http_port}; location /stat {{ rtmp_stat all; }} }} }}
"""


def start_nginx(tmp):
    port, http_port = free_port(), free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(module=NGINX_RTMP_MODULE, tmp=tmp, port=port, http_port=http_port))
    p = start(["nginx", "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")],
              open(os.path.join(tmp, "nginx.out"), "w"))
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            nginx_streams(http_port)
            return p, port, http_port
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.2)
    stop(p)
    sys.exit(f"nginx-rtmp did not start; see {tmp}/error.log")


def nginx_streams(http_port):
    """{stream name: bytes_in} of the streams being published, from rtmp_stat."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stat", timeout=10) as r:
        xml = r.read().decode()
    out = {}
    for block in re.findall(r"<stream>(.*?)</stream>", xml, re.S):
        name = re.search(r"<name>([^<]*)</name>", block).group(1)
        if "<publishing/>" in block:
            out[name] = int(re.search(r"<bytes_in>(\d+)</bytes_in>", block).group(1))
    return out


def wait_streams(count_up, n, timeout):
    deadline = time.time() + timeout
    up = 0
    while time.time() < deadline:
        try:
            up = count_up()
            if up >= n:
                break
        except OSError:
            pass
        time.sleep(0.5)
    return up


def thread_cpu(pid):
    """CPU seconds per thread name, trailing digits dropped (libsrt names its
    threads, e.g. SRT:TsbPd; vigil's own threads are all named vigil)."""
    out = {}
    for name, s in ingest.thread_cpu(pid).items():
        name = re.sub(r"[0-9]+$", "", name)
        out[name] = out.get(name, 0.0) + s
    return out


def udp_rcvbuf_errors():
    """Datagrams the kernel dropped for a full socket buffer (machine-wide)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def measure(server, publishers, sample, duration, warmup):
    """CPU of the server and of the publishers over duration seconds, with
    sample() (stream counters) read at both ends."""
    return measure_together([(server, publishers, sample)], duration, warmup)[0]


def measure_together(setups, duration, warmup):
    """measure() for several (server, publishers, sample) over one interval,
    so that they share whatever else the machine is doing."""
    time.sleep(warmup)
    load0, u0 = os.getloadavg()[0], udp_rcvbuf_errors()
    before = []
    for server, publishers, sample in setups:
        before.append((sample(), thread_cpu(server.pid), cpu_seconds(server.pid), cpu_of(publishers), time.time()))
    time.sleep(duration)
    after = []
    for server, publishers, sample in setups:
        after.append((cpu_seconds(server.pid), cpu_of(publishers), time.time()))
    out = []
    for (server, publishers, sample), (s0, th0, c0, p0, t0), (c1, p1, t1) in zip(setups, before, after):
        th1 = thread_cpu(server.pid)
        out.append({"threads": {k: round(v - th0.get(k, 0.0), 2) for k, v in th1.items() if v - th0.get(k, 0.0) > 0},
                    "elapsed": t1 - t0, "server_cpu": c1 - c0, "pub_cpu": p1 - p0, "s0": s0, "s1": sample(),
                    "rss": rss_bytes(server.pid)})
    load1, u1 = os.getloadavg()[0], udp_rcvbuf_errors()
    for m in out:
        m["load"] = [round(load0, 2), round(load1, 2)]
        m["udp_rcvbuf_errors"] = u1 - u0
    return out


def idle_cores(proc, seconds=5):
    """The server's CPU with no stream, in cores (timers, housekeeping)."""
    c0, t0 = cpu_seconds(proc.pid), time.time()
    time.sleep(seconds)
    return round((cpu_seconds(proc.pid) - c0) / (time.time() - t0), 4)


def summarize(name, n, m, base_rss, clip_kbit, publishers, counts):
    minutes = m["elapsed"] / 60
    res = {"config": name, "n": n, "seconds": round(m["elapsed"], 1),
           "cpu_s": round(m["server_cpu"], 2),
           "cpu_s_per_stream_min": round(m["server_cpu"] / n / minutes, 4),
           "cores": round(m["server_cpu"] / m["elapsed"], 3),
           "rss_mib": round(m["rss"] / 2**20, 1),
           "rss_kib_per_stream": round((m["rss"] - base_rss) / 1024 / n),
           "load_avg_1m": m["load"], "udp_rcvbuf_errors_machine": m["udp_rcvbuf_errors"],
           "cpu_s_by_thread_name": m["threads"]}
    if publishers is not None:
        alive = sum(1 for p in publishers if p.poll() is None)
        res["publishers_alive"] = alive
        res["publisher_cpu_s_per_stream_min"] = round(m["pub_cpu"] / n / minutes, 4)
    res.update(counts)
    if "bytes" in res:
        res["bytes_expected"] = int(n * clip_kbit * 1000 / 8 * m["elapsed"])
    return res


def vigil_counts(http_port, m, n, ids):
    """Online streams, frames and payload bytes over the interval, from the API."""
    before = {c["id"]: c["counters"] for c in m["s0"]}
    after = {c["id"]: c for c in m["s1"]}
    frames = [after[i]["counters"]["frames"] - before.get(i, {}).get("frames", 0) for i in ids if i in after]
    nbytes = sum(after[i]["counters"]["bytes"] - before.get(i, {}).get("bytes", 0) for i in ids if i in after)
    met = metrics(http_port)
    return {"online": sum(1 for i in ids if i in after and after[i]["state"] == "online"),
            "frames": sum(frames), "frames_expected": round(n * FPS * m["elapsed"]),
            "frames_min_per_stream": min(frames) if frames else 0,
            "frames_expected_per_stream": round(FPS * m["elapsed"]),
            "bytes": nbytes,
            "reconnects": sum(after[i]["counters"]["reconnects"] for i in ids if i in after),
            "errors": sum(after[i]["counters"]["errors"] for i in ids if i in after),
            "rtp_lost": sum(after[i]["counters"]["rtp_lost"] - before.get(i, {}).get("rtp_lost", 0)
                            for i in ids if i in after),
            "vigil_errors": {k: msum(met, k) for k in ("vigil_rtmp_errors_total", "vigil_mpegts_errors_total")
                             if k in met}}


def run_push(name, vigil, clip, clip_kbit, n, duration, warmup, tmp, workers):
    ids = [f"pub{i}" for i in range(1, n + 1)]
    if name == "rtsp-push":
        extra, kind = {}, "rtsp"
    elif name == "rtmp":
        port = free_port()
        extra, kind = {"rtmp_server": {"enabled": True, "bind": "127.0.0.1", "port": port}}, "rtmp"
    else:
        port = free_port()
        extra, kind = {"srt_server": {"enabled": True, "bind": "127.0.0.1", "port": port}}, "srt"
    node, http_port, rtsp_port = start_vigil(vigil, tmp, workers, extra)
    time.sleep(2)
    idle = idle_cores(node)
    base_rss = rss_bytes(node.pid)
    if kind == "rtsp":
        urls = [f"rtsp://127.0.0.1:{rtsp_port}/{i}" for i in ids]
    elif kind == "rtmp":
        urls = [f"rtmp://127.0.0.1:{port}/live/{i}" for i in ids]
    else:
        urls = [f"srt://127.0.0.1:{port}?streamid={i}&pkt_size=1316" for i in ids]
    pubs = start_publishers(clip, kind, urls, tmp)
    up = wait_streams(lambda: sum(1 for c in vigil_cameras(http_port) if c["state"] == "online"), n, 60)
    m = measure(node, pubs, lambda: vigil_cameras(http_port), duration, warmup)
    res = summarize(name, n, m, base_rss, clip_kbit, pubs, vigil_counts(http_port, m, n, ids))
    res["idle_cores"] = idle
    res["online_before"] = up
    for p in pubs:
        stop(p)
    stop(node)
    return res


def run_nginx(clip, clip_kbit, n, duration, warmup, tmp):
    nginx, port, http_port = start_nginx(tmp)
    time.sleep(1)
    idle = idle_cores(nginx)
    base_rss = rss_bytes(nginx.pid)
    ids = [f"pub{i}" for i in range(1, n + 1)]
    pubs = start_publishers(clip, "rtmp", [f"rtmp://127.0.0.1:{port}/live/{i}" for i in ids], tmp)
    up = wait_streams(lambda: len(nginx_streams(http_port)), n, 60)
    m = measure(nginx, pubs, lambda: nginx_streams(http_port), duration, warmup)
    counts = {"online": len(m["s1"]),
              "bytes": sum(v - m["s0"].get(k, 0) for k, v in m["s1"].items())}
    res = summarize("nginx-rtmp", n, m, base_rss, clip_kbit, pubs, counts)
    res["idle_cores"] = idle
    res["online_before"] = up
    for p in pubs:
        stop(p)
    stop(nginx)
    return res


def run_rtmp_side_by_side(vigil, clip, clip_kbit, n, duration, warmup, tmp, workers):
    """vigil's RTMP server and nginx-rtmp at the same time, N publishers each
    (started alternately), measured over the same interval."""
    port = free_port()
    node, http_port, _ = start_vigil(vigil, tmp, workers,
                                     {"rtmp_server": {"enabled": True, "bind": "127.0.0.1", "port": port}})
    nginx, nginx_port, nginx_http = start_nginx(tmp)
    time.sleep(2)
    base_vigil, base_nginx = rss_bytes(node.pid), rss_bytes(nginx.pid)
    ids = [f"pub{i}" for i in range(1, n + 1)]
    pubs_vigil, pubs_nginx = [], []
    for i, name in enumerate(ids):
        for pubs, p in ((pubs_vigil, port), (pubs_nginx, nginx_port)):
            pubs.append(start(publisher_args(clip, "rtmp", f"rtmp://127.0.0.1:{p}/live/{name}"),
                              open(os.path.join(tmp, f"pub-{p}-{i}.log"), "w")))
        time.sleep(GOP / FPS / n)
    up = wait_streams(lambda: min(sum(1 for c in vigil_cameras(http_port) if c["state"] == "online"),
                                  len(nginx_streams(nginx_http))), n, 60)
    mv, mn = measure_together([(node, pubs_vigil, lambda: vigil_cameras(http_port)),
                               (nginx, pubs_nginx, lambda: nginx_streams(nginx_http))], duration, warmup)
    res_vigil = summarize("rtmp (side by side)", n, mv, base_vigil, clip_kbit, pubs_vigil,
                          vigil_counts(http_port, mv, n, ids))
    res_nginx = summarize("nginx-rtmp (side by side)", n, mn, base_nginx, clip_kbit, pubs_nginx,
                          {"online": len(mn["s1"]), "bytes": sum(v - mn["s0"].get(k, 0) for k, v in mn["s1"].items())})
    for p in pubs_vigil + pubs_nginx:
        stop(p)
    stop(node)
    stop(nginx)
    return {"config": "rtmp-side-by-side", "n": n, "online_before": up, "vigil": res_vigil, "nginx": res_nginx,
            "cpu_s_per_stream_min": res_vigil["cpu_s_per_stream_min"],
            "nginx_cpu_s_per_stream_min": res_nginx["cpu_s_per_stream_min"],
            "ratio_nginx_over_vigil": round(res_nginx["cpu_s_per_stream_min"] /
                                            max(res_vigil["cpu_s_per_stream_min"], 1e-9), 2)}


def run_rtmp_pull(vigil, clip, clip_kbit, n, duration, warmup, tmp, workers):
    """vigil's RTMP client: N rtmp:// cameras played from nginx-rtmp, which
    the N publishers feed (their CPU and nginx's are the sources')."""
    nginx, port, nginx_http = start_nginx(tmp)
    ids = [f"pub{i}" for i in range(1, n + 1)]
    pubs = start_publishers(clip, "rtmp", [f"rtmp://127.0.0.1:{port}/live/{i}" for i in ids], tmp)
    wait_streams(lambda: len(nginx_streams(nginx_http)), n, 60)
    node, http_port, _ = start_vigil(vigil, tmp, workers, {})
    time.sleep(2)
    idle = idle_cores(node)
    base_rss = rss_bytes(node.pid)
    stop(node)
    node, http_port, _ = start_vigil(vigil, tmp, workers, {
        "cameras": [{"id": i, "url": f"rtmp://127.0.0.1:{port}/live/{i}"} for i in ids]})
    up = wait_streams(lambda: sum(1 for c in vigil_cameras(http_port) if c["state"] == "online"), n, 60)
    m = measure(node, pubs + [nginx], lambda: vigil_cameras(http_port), duration, warmup)
    res = summarize("rtmp-pull", n, m, base_rss, clip_kbit, pubs, vigil_counts(http_port, m, n, ids))
    del res["publisher_cpu_s_per_stream_min"]
    res["sources_cpu_s_per_stream_min"] = round(m["pub_cpu"] / n / (m["elapsed"] / 60), 4)
    res["idle_cores"] = idle
    res["online_before"] = up
    stop(node)
    for p in pubs:
        stop(p)
    stop(nginx)
    return res


def run_pull(vigil, n, duration, warmup, tmp, workers):
    sim_port = free_port()
    sim = start_camsim(vigil, n, sim_port, os.path.join(tmp, "camsim.log"), workers)
    STARTED.append(sim)
    ids = [f"cam{i}" for i in range(1, n + 1)]
    node, http_port, _ = start_vigil(vigil, tmp, workers, {})
    time.sleep(2)
    idle = idle_cores(node)
    base_rss = rss_bytes(node.pid)
    stop(node)
    node, http_port, _ = start_vigil(vigil, tmp, workers, {
        "cameras": [{"id": i, "url": f"rtsp://127.0.0.1:{sim_port}/{i}"} for i in ids]})
    up = wait_streams(lambda: sum(1 for c in vigil_cameras(http_port) if c["state"] == "online"), n, 60)
    m = measure(node, [sim], lambda: vigil_cameras(http_port), duration, warmup)
    res = summarize("rtsp-pull", n, m, base_rss, KBPS, None, vigil_counts(http_port, m, n, ids))
    res["camsim_cpu_s_per_stream_min"] = round(m["pub_cpu"] / n / (m["elapsed"] / 60), 4)
    res["idle_cores"] = idle
    res["online_before"] = up
    del res["bytes_expected"]  # camsim's clip is not the file: its bitrate is its own
    stop(node)
    stop(sim)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--n", type=int, default=50, help="streams per configuration")
    ap.add_argument("--duration", type=int, default=60, help="seconds measured per configuration")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2, help="run every configuration this many times")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--workers", type=int, default=0, help="vigil's I/O workers (0: one per CPU)")
    ap.add_argument("--clip-seconds", type=int, default=10)
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "vigil-bench-clips"))
    ap.add_argument("--json", help="write the results here as JSON")
    add_keep_option(ap)
    a = ap.parse_args()
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    configs = [c for c in a.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"unknown configuration {c}; known: {', '.join(CONFIGS)}")
    clip, info = make_clip(a.cache_dir, a.clip_seconds)
    print(json.dumps({"clip": info}), flush=True)
    results = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
                          f"{os.sysconf('SC_PHYS_PAGES') * PAGE / 2**30:.0f} GiB",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "clip": info, "n": a.n,
               "duration": a.duration, "runs": []}
    for rep in range(1, a.repeat + 1):
        for c in configs:
            tmp = make_tmpdir(f"vigil-bench-{c}-", a.keep)
            if c == "rtsp-pull":
                res = run_pull(a.vigil, a.n, a.duration, a.warmup, tmp, a.workers)
            elif c == "rtmp-side-by-side":
                res = run_rtmp_side_by_side(a.vigil, clip, info["kbit_s"], a.n, a.duration, a.warmup, tmp,
                                            a.workers)
            elif c == "rtmp-pull":
                res = run_rtmp_pull(a.vigil, clip, info["kbit_s"], a.n, a.duration, a.warmup, tmp, a.workers)
            elif c == "nginx-rtmp":
                res = run_nginx(clip, info["kbit_s"], a.n, a.duration, a.warmup, tmp)
            else:
                res = run_push(c, a.vigil, clip, info["kbit_s"], a.n, a.duration, a.warmup, tmp, a.workers)
            res["repeat"] = rep
            print(json.dumps(res), flush=True)
            results["runs"].append(res)
            if not a.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    by = {}
    for r in results["runs"]:
        by.setdefault(r["config"], []).append(r["cpu_s_per_stream_min"])
    ratios = {}
    if "rtsp-push" in by:
        for c in ("rtmp", "srt", "rtsp-pull", "rtmp-pull"):
            if c in by:
                ratios[f"{c} / rtsp-push"] = [round(x / y, 2) for x, y in zip(by[c], by["rtsp-push"])]
    if "rtmp" in by and "nginx-rtmp" in by:
        ratios["nginx-rtmp / vigil rtmp"] = [round(x / y, 2) for x, y in zip(by["nginx-rtmp"], by["rtmp"])]
    side = [r["ratio_nginx_over_vigil"] for r in results["runs"] if r["config"] == "rtmp-side-by-side"]
    if side:
        ratios["nginx-rtmp / vigil rtmp, side by side"] = side
    results["ratios"] = ratios
    print(json.dumps({"ratios": ratios}), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
