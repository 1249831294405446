#!/usr/bin/env python3
"""API benchmark: requests per second for GET /api/v1/cameras with 500 cameras.

A `vigil run` node is started with auth on and N cameras (default 500) that
point at a closed port with a long back-off, so that none streams (each is
"offline" and costs nothing between requests). The client logs in once and
sends every request with the session cookie, over C keep-alive connections
(asyncio, raw HTTP/1.1), for DURATION seconds, in three modes:
  full   GET /api/v1/cameras (all N cameras, ~250 KiB of JSON per answer)
  page   GET /api/v1/cameras?limit=50 (the first page)
  etag   GET /api/v1/cameras with If-None-Match of the previous answer (304)
vigil's CPU time over each run comes from /proc, so the figure per vigil
CPU-second is given too (the Python client shares the machine's cores).
Every figure is measured here, in this run.
"""
import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from benchtmp import add_keep_option, make_tmpdir

CLK_TCK = os.sysconf("SC_CLK_TCK")
ADMIN_PW = "bench admin password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    etag = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"etag":
            etag = value.strip().decode()
    body = await reader.readexactly(length) if length else b""
    return status, etag, body


async def client(port, request, deadline, counts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            status, _, body = await read_response(reader)
            counts[status] = counts.get(status, 0) + 1
            counts["bytes"] = counts.get("bytes", 0) + len(body)
    finally:
        writer.close()


async def run_mode(port, request, concurrency, duration):
    counts = {}
    deadline = time.monotonic() + duration
    await asyncio.gather(*(client(port, request, deadline, counts) for _ in range(concurrency)))
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default=os.environ.get("VIGIL_BIN", "build/vigil"))
    ap.add_argument("--cameras", type=int, default=500)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    add_keep_option(ap)
    args = ap.parse_args()

    tmp = make_tmpdir("vigil-bench-api-", args.keep)
    http, rtsp = free_port(), free_port()
    cams = [{"id": f"cam{i:04d}", "url": f"rtsp://user:pw@127.0.0.1:1/cam{i}", "backoff_min_ms": 600000,
             "backoff_max_ms": 600000} for i in range(args.cameras)]
    cfg = {"log_level": "warn", "http": {"port": http, "bind": "127.0.0.1"},
           "rtsp_server": {"port": rtsp, "bind": "127.0.0.1"},
           "auth": {"enabled": True, "secret_key_file": f"{tmp}/secret.key"},
           "database": {"path": f"{tmp}/vigil.db"}, "cameras": cams}
    path = os.path.join(tmp, "vigil.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proc = subprocess.Popen([args.vigil, "run", "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, VIGIL_ADMIN_PASSWORD=ADMIN_PW))
    base = f"http://127.0.0.1:{http}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/api/v1/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        req = urllib.request.Request(base + "/api/v1/login", method="POST",
                                     data=json.dumps({"username": "admin", "password": ADMIN_PW}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            cookie = [v for v in r.headers.get_all("Set-Cookie") if v.startswith("vigil_session=")][0]
        cookie = cookie.split(";")[0]
        with urllib.request.urlopen(urllib.request.Request(base + "/api/v1/cameras",
                                                           headers={"Cookie": cookie})) as r:
            full = json.loads(r.read())
            etag = r.headers["ETag"]
        assert full["total"] == args.cameras, full["total"]
        time.sleep(1)  # let every camera fail its first connection and go quiet

        def request(target, extra=""):
            return (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n{extra}\r\n").encode()

        modes = [("full", request("/api/v1/cameras"), 200),
                 ("page", request("/api/v1/cameras?limit=50"), 200),
                 ("etag", request("/api/v1/cameras", f"If-None-Match: {etag}\r\n"), 304)]
        print(f"# vigil {args.vigil}, {args.cameras} cameras, auth on (session cookie), "
              f"{args.concurrency} keep-alive connections, {args.duration:.0f} s per mode")
        print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
        print("| request | answers/s | vigil CPU | answers per vigil CPU-second | body bytes | vigil RSS |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, raw, want in modes:
            c0, t0 = cpu_seconds(proc.pid), time.monotonic()
            counts = asyncio.run(run_mode(http, raw, args.concurrency, args.duration))
            c1, t1 = cpu_seconds(proc.pid), time.monotonic()
            ok = counts.get(want, 0)
            others = {k: v for k, v in counts.items() if k not in (want, "bytes")}
            assert not others, f"{name}: unexpected answers {others}"
            cpu = c1 - c0
            print(f"| {name} | {ok / (t1 - t0):.0f} | {100 * cpu / (t1 - t0):.0f}% of a core | "
                  f"{ok / cpu if cpu else 0:.0f} | {counts.get('bytes', 0) // max(ok, 1)} | "
                  f"{rss_bytes(proc.pid) / 2**20:.0f} MiB |")
            sys.stdout.flush()
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
