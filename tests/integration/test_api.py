"""Black-box tests of vigil's HTTP API: `vigil run` with cameras that cannot
be reached, checked over real HTTP from Python's standard library."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import free_port

VIGIL = os.environ.get("VIGIL_BIN", "vigil")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def request(url, method="GET", data=None, headers=None):
    """(status, headers, body bytes) for any status, errors included."""
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(url):
    status, headers, body = request(url)
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(body)


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def vigil(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    port = free_port()
    # A web root of its own: the web app's build (web/dist) may not exist.
    web = tmp / "web"
    web.mkdir()
    (web / "index.html").write_text('<!doctype html><script type="module" src="app.js"></script>')
    (web / "app.js").write_text('fetch("/api/v1/cameras");')
    config = {
        "log_level": "info",
        "workers": 2,
        "http": {"bind": "127.0.0.1", "port": port, "web_root": str(web)},
        "auth": {"enabled": False},
        "cameras": [
            {"id": "door", "name": "Front door", "url": "rtsp://admin:s3cr3t@127.0.0.1:1/live",
             "backoff_min_ms": 60000, "backoff_max_ms": 60000},
            {"id": "yard", "url": "rtsp://127.0.0.1:1/stream1",
             "backoff_min_ms": 60000, "backoff_max_ms": 60000},
            {"id": "attic", "url": "rtsp://127.0.0.1:1/x", "enabled": False},
        ],
    }
    cfg = tmp / "vigil.json"
    cfg.write_text(json.dumps(config))
    log = open(tmp / "vigil.log", "w+")
    proc = subprocess.Popen([VIGIL, "run", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: request(base + "/api/v1/health")[0] == 200), "vigil did not start serving"
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.seek(0)
        print(log.read())
        log.close()


def offline_cameras(base):
    cams = get_json(base + "/api/v1/cameras")[1]["cameras"]
    return [c for c in cams if c["state"] == "offline"]


def test_health(vigil):
    base, _ = vigil
    status, h = get_json(base + "/api/v1/health")
    assert status == 200
    assert h["status"] == "ok"
    assert isinstance(h["version"], str) and h["version"]
    assert isinstance(h["uptime_s"], int) and h["uptime_s"] >= 0
    assert h["cameras"] == {"total": 3, "online": 0}


def test_cameras_go_offline_with_reason_and_hide_credentials(vigil):
    base, _ = vigil
    assert wait_for(lambda: len(offline_cameras(base)) == 2), "cameras did not go offline"
    status, headers, body = request(base + "/api/v1/cameras")
    assert status == 200
    assert b"s3cr3t" not in body and b"admin" not in body
    cams = json.loads(body)["cameras"]
    assert [c["id"] for c in cams] == ["attic", "door", "yard"]
    by_id = {c["id"]: c for c in cams}
    door = by_id["door"]
    assert door["name"] == "Front door"
    assert door["type"] == "rtsp"
    assert door["url"] == "rtsp://127.0.0.1:1/live"
    assert door["state"] == "offline"
    assert isinstance(door["reason"], str) and door["reason"]
    assert door["last_error"]
    assert door["state_since"].endswith("Z") and door["state_since"][10] == "T"
    assert door["tracks"] == []
    assert set(door["counters"]) == {"frames", "bytes", "rtp_packets", "rtp_lost", "reconnects", "errors"}
    assert by_id["attic"]["state"] == "disabled"
    assert by_id["attic"]["reason"] is None

    status, one = get_json(base + "/api/v1/cameras/door")
    assert status == 200
    assert one["id"] == "door" and one["url"] == "rtsp://127.0.0.1:1/live"


def parse_metrics(text):
    """Checks the exposition format line by line; returns {(name, labels): value}."""
    types, samples = {}, {}
    for line in text.splitlines():
        assert line, "empty line in /metrics"
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "untyped", "histogram", "summary")
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        if "{" in line:
            name, rest = line.split("{", 1)
            labels, value = rest.rsplit("} ", 1)
        else:
            name, value = line.split(" ")
            labels = ""
        assert name in types, f"sample {name} has no TYPE line"
        samples[(name, labels)] = float(value)
    return types, samples


def test_metrics(vigil):
    base, _ = vigil
    assert wait_for(lambda: len(offline_cameras(base)) == 2)
    status, headers, body = request(base + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    types, samples = parse_metrics(body.decode())
    for fam in ("vigil_camera_frames_total", "vigil_camera_bytes_total", "vigil_camera_rtp_packets_lost_total",
                "vigil_camera_reconnects_total", "vigil_camera_errors_total", "vigil_process_cpu_seconds_total"):
        assert types[fam] == "counter"
    assert types["vigil_camera_up"] == "gauge"
    assert samples[("vigil_camera_up", 'camera="door"')] == 0
    assert samples[("vigil_camera_frames_total", 'camera="yard"')] == 0
    assert samples[("vigil_cameras", 'state="offline"')] == 2
    assert samples[("vigil_process_resident_memory_bytes", "")] > 1e6
    assert samples[("vigil_process_cpu_seconds_total", "")] > 0
    assert ("vigil_buffer_live_bytes", "") in samples
    assert samples[("vigil_http_requests_total", 'code="200"')] >= 1


def test_errors_are_json(vigil):
    base, _ = vigil
    status, err = get_json(base + "/api/v1/cameras/nope")
    assert status == 404 and err["error"]["code"] == "not_found" and err["error"]["message"]
    status, err = get_json(base + "/api/v2/anything")
    assert status == 404 and err["error"]["code"] == "not_found"
    status, headers, body = request(base + "/api/v1/cameras", method="DELETE")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD, POST"  # POST creates a camera
    assert json.loads(body)["error"]["code"] == "method_not_allowed"
    status, headers, body = request(base + "/api/v1/health", method="POST", data=b'{"x":1}',
                                    headers={"Content-Type": "application/json"})
    assert status == 405
    status, headers, body = request(base + "/api/v1/health", method="HEAD")
    assert status == 200 and body == b""


def test_static_files(vigil):
    base, _ = vigil
    status, headers, body = request(base + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"/api/v1/cameras" in request(base + "/app.js")[2]
    assert request(base + "/nothing-here.html")[0] == 404
    # Path traversal, sent raw since HTTP clients normalise "..".
    for path in ("/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/.git/config", "/..%2f..%2fetc/passwd"):
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert b"root:" not in reply, path
        assert reply.startswith(b"HTTP/1.1 4"), (path, reply[:80])


def raw_exchange(port, payload, read=True):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(payload)
            if read:
                s.settimeout(5)
                while s.recv(65536):
                    pass
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass


def test_garbage_and_huge_requests_do_not_kill_the_server(vigil):
    base, proc = vigil
    port = int(base.rsplit(":", 1)[1])
    raw_exchange(port, b"\x00\xff\x16\x03\x01garbage\r\n\r\n" * 100)
    raw_exchange(port, b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    raw_exchange(port, b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 100000 + b"\r\n\r\n")
    raw_exchange(port, b"GET / HTTP/1.1\r\n" + b"X-Many: c\r\n" * 5000 + b"\r\n")
    raw_exchange(port, b"POST /api/v1/cameras HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nxx")
    raw_exchange(port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n", read=False)  # never finished
    raw_exchange(port, b"BREW /pot HTTP/1.1\r\n\r\n")
    status, headers, body = request(base + "/api/v1/cameras/" + "x" * 3000)
    assert status in (404, 414, 431)
    assert proc.poll() is None
    assert get_json(base + "/api/v1/health")[0] == 200


def test_keep_alive_serves_several_requests_on_one_connection(vigil):
    base, _ = vigil
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n" * 2 +
                  b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    assert reply.count(b"HTTP/1.1 200 OK") == 3


def test_sigterm_stops_cleanly(vigil):
    base, proc = vigil
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
