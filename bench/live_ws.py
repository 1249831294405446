#!/usr/bin/env python3
"""Live-view benchmark: MSE/WebSocket viewers of one 2 Mbit/s camera.

`vigil camsim` serves one H.264 camera (1280x720, 2 Mbit/s, 25 fps, GOP 50);
a `vigil run` node ingests it. For each N, N WebSocket viewers of
/api/v1/cameras/cam1/live.ws read everything (one selector thread here,
counting bytes without parsing frames) for DURATION seconds. We read the
node's CPU time from /proc and its live-view metrics from /metrics: bytes,
skips, and the latency vigil adds from a frame's arrival to its WebSocket
write (p50/p99, estimated from its histogram; cumulative over the run).
Viewers per core = N / (vigil's CPU seconds per second).

With --base, a second node (another build, e.g. the old main) ingests the
same camera and the steps alternate between the two, so that both are
measured in the same minutes of a shared machine; ratios new/base follow.

Every figure is measured here, in this run; nothing is assumed.
"""
import argparse
import base64
import json
import os
import platform
import selectors
import socket
import subprocess
import sys
import time
import urllib.request
from benchtmp import add_keep_option, make_tmpdir

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid, which="both"):
    """The process's CPU seconds: user + system, or "user" or "system" alone."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    user, system = int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK
    return user if which == "user" else system if which == "system" else user + system


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith("vigil_live_"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = out.get(name, 0.0) + float(value)
    return out


def metric(m, prefix):
    return sum(v for k, v in m.items() if k == prefix or k.startswith(prefix + "{"))


def ws_connect(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        buf += chunk
    if b" 101 " not in buf.split(b"\r\n", 1)[0]:
        raise RuntimeError(buf.split(b"\r\n", 1)[0].decode())
    s.setblocking(False)
    return s, len(buf.split(b"\r\n\r\n", 1)[1])


def drain(sel, seconds):
    """Reads every viewer's socket for `seconds`; returns the bytes read."""
    received, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        for key, _ in sel.select(timeout=0.5):
            try:
                while True:
                    data = key.fileobj.recv(1 << 20)
                    if not data:
                        sel.unregister(key.fileobj)
                        break
                    received += len(data)
            except BlockingIOError:
                pass
    return received


def run_step(port, pid, n, duration):
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s, _ = ws_connect(port, "/api/v1/cameras/cam1/live.ws")
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    drain(sel, 1.0)  # past the GOP-cache burst of the new viewers, reading all along
    m0, u0, c0, t0 = metrics(port), cpu_seconds(pid, "user"), cpu_seconds(pid), time.monotonic()
    received = drain(sel, duration)
    c1, u1, t1, m1 = cpu_seconds(pid), cpu_seconds(pid, "user"), time.monotonic(), metrics(port)
    for s in socks:
        s.close()
    cpu = (c1 - c0) / (t1 - t0)
    return {
        "viewers": n,
        "cpu_cores": round(cpu, 3),
        # User space alone: vigil's own code (muxing, copies, queues, lws),
        # without the kernel's TCP work (on loopback it includes the receive side).
        "user_cpu_cores": round((u1 - u0) / (t1 - t0), 3),
        "viewers_per_core": round(n / cpu, 1) if cpu > 0 else None,
        "received_mbit_s": round(received * 8 / (t1 - t0) / 1e6, 2),
        "sent_mbit_s": round((metric(m1, "vigil_live_bytes_total") - metric(m0, "vigil_live_bytes_total")) * 8 /
                             (t1 - t0) / 1e6, 2),
        "skips": int(metric(m1, "vigil_live_skips_total") - metric(m0, "vigil_live_skips_total")),
        "latency_p50_ms": round(m1.get('vigil_live_latency_seconds{quantile="0.5"}', 0) * 1000, 2),
        "latency_p99_ms": round(m1.get('vigil_live_latency_seconds{quantile="0.99"}', 0) * 1000, 2),
    }


def start_node(vigil, tmp, name, sim_port):
    """Starts a `vigil run` node ingesting cam1; returns (process, http port)."""
    http_port, rtsp_port = free_port(), free_port()
    cfg = {"http": {"bind": "127.0.0.1", "port": http_port}, "auth": {"enabled": False},
           "rtsp_server": {"bind": "127.0.0.1", "port": rtsp_port}, "log_level": "warn",
           "database": {"path": os.path.join(tmp, f"{name}.db")},
           "cameras": [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim_port}/cam1"}]}
    cfg_path = os.path.join(tmp, f"{name}.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    node = subprocess.Popen([vigil, "run", "-c", cfg_path], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, f"{name}.log"), "w"))
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v1/cameras/cam1", timeout=2) as r:
                if json.loads(r.read())["state"] == "online":
                    return node, http_port
        except OSError:
            pass
        if time.monotonic() > deadline or node.poll() is not None:
            node.terminate()
            sys.exit(f"{name}: cam1 did not come online (see {tmp}/{name}.log)")
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default=os.path.join(os.path.dirname(__file__), "..", "build", "vigil"))
    ap.add_argument("--base", help="another vigil binary (e.g. the old main) measured side by side: both nodes "
                    "ingest the same camera all along, their steps alternate, and the figures of --vigil "
                    "are also given as ratios to the base's")
    ap.add_argument("--viewers", default="1,10,50", help="comma-separated viewer counts")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per step")
    add_keep_option(ap)
    args = ap.parse_args()
    tmp = make_tmpdir("vigil-bench-live-", args.keep)
    sim_port = free_port()
    sim = subprocess.Popen([args.vigil, "camsim", "--bind", "127.0.0.1", "--port", str(sim_port), "--cameras",
                            "1", "--size", "1280x720", "--fps", "25", "--gop", "50", "--bitrate", "2M",
                            "--duration-s", "4", "--workers", "1"],
                           stdout=open(os.path.join(tmp, "camsim.out"), "w"),
                           stderr=open(os.path.join(tmp, "camsim.log"), "w"))
    builds = [("new", args.vigil)] + ([("base", args.base)] if args.base else [])
    nodes = {}
    try:
        deadline = time.monotonic() + 180
        while "camsim: serving" not in open(os.path.join(tmp, "camsim.out")).read():
            if time.monotonic() > deadline or sim.poll() is not None:
                sys.exit("camsim did not start")
            time.sleep(0.2)
        for name, vigil in builds:
            nodes[name] = start_node(vigil, tmp, name, sim_port)
        time.sleep(2)
        ingest = {}
        for name, (node, _) in nodes.items():
            base_cpu0, t0 = cpu_seconds(node.pid), time.monotonic()
            time.sleep(3)
            ingest[name] = (cpu_seconds(node.pid) - base_cpu0) / (time.monotonic() - t0)
        print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": platform.node(),
                          "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "loadavg": os.getloadavg(),
                          "ingest_only_cpu_cores": {k: round(v, 3) for k, v in ingest.items()}}))
        for step, n in enumerate(int(x) for x in args.viewers.split(",")):
            # Alternate which build goes first, so that neither always gets the quieter minute.
            order = list(nodes) if step % 2 == 0 else list(reversed(nodes))
            results = {}
            for name in order:
                node, port = nodes[name]
                r = run_step(port, node.pid, n, args.duration)
                r["build"] = name
                r["cpu_cores_minus_ingest"] = round(r["cpu_cores"] - ingest[name], 3)
                extra = r["cpu_cores_minus_ingest"]
                r["viewers_per_core_excl_ingest"] = round(n / extra, 1) if extra > 0 else None
                r["loadavg_1m"] = os.getloadavg()[0]
                results[name] = r
                print(json.dumps(r), flush=True)
            if "base" in results:
                new, old = results["new"], results["base"]
                print(json.dumps({
                    "viewers": n, "ratio": "new/base",
                    "cpu_cores": round(new["cpu_cores"] / old["cpu_cores"], 2) if old["cpu_cores"] else None,
                    "user_cpu_cores": round(new["user_cpu_cores"] / old["user_cpu_cores"], 2)
                    if old["user_cpu_cores"] else None,
                    "viewers_per_core": round(new["viewers_per_core"] / old["viewers_per_core"], 2)
                    if new["viewers_per_core"] and old["viewers_per_core"] else None,
                }), flush=True)
        for name, (node, _) in nodes.items():
            node.terminate()
            rc = node.wait(30)
            print(json.dumps({"build": name, "vigil_exit_code": rc}))
            if rc != 0:
                sys.exit(f"{name}: vigil exited with {rc}: see {tmp}/{name}.log")
    finally:
        for p in [n for n, _ in nodes.values()] + [sim]:
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
