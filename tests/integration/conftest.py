"""Shared fixtures for vigil's black-box tests.

The tests run the real `vigil` binary (VIGIL_BIN, set by ctest) against real
peers: ffmpeg and ffprobe as RTSP clients and publishers, Python's own HTTP
server where a camera's web server is needed. Every process a test starts is
stopped when the test ends, and only loopback addresses are used.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

VIGIL_BIN = os.environ.get("VIGIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/vigil"))
SANITIZED = os.environ.get("VG_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE")
# Sanitizers make everything several times slower; tests scale their waits.
SLOW = 4.0 if SANITIZED else 1.0


# Ports the tests hand to servers (vigil, camsim, fake cameras) are claimed
# from a range of their own: below the kernel's ephemeral range, so that no
# outgoing connection takes one between the check and the server's bind, and
# above the RTSP server's default RTP ports (20000-29999). A claim is an
# flock on a file named by the port, held until this test process exits, so
# two test processes running side by side never draw the same port. The
# browser harness (tests/browser/harness.mjs) draws from PORT_HI and above.
PORT_LO, PORT_HI = 30000, 32300
_PORT_DIR = os.path.join(tempfile.gettempdir(), "vigil-test-ports")
_claims = []


def _claim(port):
    """An flock'd fd for port if it is unclaimed and bindable, else None."""
    import fcntl
    os.makedirs(_PORT_DIR, exist_ok=True)
    fd = os.open(os.path.join(_PORT_DIR, str(port)), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # taken by something that does not claim
                os.close(fd)
                return None
    return fd


def free_port_run(n, step=1):
    """n consecutive ports (TCP and UDP) free on 127.0.0.1 and claimed by
    this test process, for servers that take a run of ports (camsim's
    --onvif-port: camK listens on port + K - 1); step=2 starts the run on an
    even port (an RTP/RTCP pair)."""
    import random
    for _ in range(500):
        base = random.randrange(PORT_LO, PORT_HI - n, step)
        fds = []
        for p in range(base, base + n):
            fd = _claim(p)
            if fd is None:
                break
            fds.append(fd)
        if len(fds) == n:
            _claims.extend(fds)
            return base
        for fd in fds:
            os.close(fd)
    raise RuntimeError(f"no run of {n} free ports in {PORT_LO}-{PORT_HI}")


def free_port():
    """A port (TCP and UDP) free on 127.0.0.1 and claimed by this test process."""
    return free_port_run(1)


def free_port_pair():
    """An even/odd UDP port pair (RTP/RTCP) free on 127.0.0.1."""
    return free_port_run(2, step=2)


def wait_for(cond, timeout=10.0, interval=0.1, what="condition"):
    """Polls cond() until it returns a truthy value; returns it or fails the test."""
    deadline = time.monotonic() + timeout * SLOW
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # the server may not be up yet
            last_exc = e
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout * SLOW:.0f}s waiting for {what}" +
                (f" (last error: {last_exc})" if last_exc else ""))


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers, r.read()


def http_get_json(url, timeout=5):
    status, _, body = http_get(url, timeout)
    return json.loads(body)


class Proc:
    """A child process whose output goes to a file, stopped at teardown."""

    def __init__(self, args, name, env=None):
        self.log_path = tempfile.mktemp(prefix=f"vigil-test-{name}-", suffix=".log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        if env:
            full_env.update(env)
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self.args = args

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.p.poll() is None

    def wait_output(self, text, timeout=30):
        return wait_for(lambda: text in self.output() or (not self.alive() and
                        pytest.fail(f"{self.args[0]} exited early:\n{self.output()[-3000:]}")),
                        timeout, what=f"'{text}' in output")

    def stop(self, timeout=20):
        """SIGTERM, then wait; returns the exit code (SIGKILL after timeout)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


@pytest.fixture
def vigil_bin():
    assert os.path.exists(VIGIL_BIN), f"vigil binary not found at {VIGIL_BIN}"
    return VIGIL_BIN


@pytest.fixture
def start_process():
    procs = []

    def start(args, name="proc", env=None):
        pr = Proc(args, name, env)
        procs.append(pr)
        return pr

    yield start
    failures = []
    for pr in procs:
        rc = pr.stop()
        # A vigil process must exit cleanly: a sanitizer report or a crash is a failure.
        if os.path.basename(pr.args[0]) == "vigil" and rc not in (0, None):
            failures.append(f"{' '.join(pr.args[:3])} exited with {rc}:\n{pr.output()[-4000:]}")
    if failures:
        pytest.fail("\n".join(failures))


@pytest.fixture
def vigil_node(vigil_bin, start_process, tmp_path):
    """Starts `vigil run` with a config dict; returns (proc, http_port, rtsp_port)."""

    def start(config, wait=True):
        config = dict(config)
        http_port = free_port()
        rtsp_port = free_port()
        config.setdefault("http", {}).setdefault("port", http_port)
        config["http"].setdefault("bind", "127.0.0.1")
        config.setdefault("rtsp_server", {}).setdefault("port", rtsp_port)
        config["rtsp_server"].setdefault("bind", "127.0.0.1")
        # These tests exercise other features without credentials; the
        # access-control tests (test_auth.py) pass an "auth" object of their own.
        config.setdefault("auth", {"enabled": False})
        # Each node gets its own database file, never one in the working directory.
        config.setdefault("database", {"path": str(tmp_path / f"vigil-{len(list(tmp_path.iterdir()))}.db")})
        config.setdefault("database", {"path": str(tmp_path / "vigil.db")})
        path = tmp_path / f"vigil-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps(config))
        proc = start_process([vigil_bin, "run", "-c", str(path)], "vigil")
        if wait:
            wait_for(lambda: http_get_json(f"http://127.0.0.1:{config['http']['port']}/api/v1/health"),
                     20, what="vigil's HTTP API")
        return proc, config["http"]["port"], config["rtsp_server"]["port"]

    return start


def ffprobe_streams(url, transport="tcp", timeout=20, extra=()):
    """Runs ffprobe on url; returns its list of streams (dicts)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", transport, *extra, "-show_streams", "-of", "json", url],
        capture_output=True, timeout=timeout * SLOW)
    if out.returncode != 0:
        raise RuntimeError(f"ffprobe failed ({out.returncode}): {out.stderr.decode(errors='replace')[-800:]}")
    return json.loads(out.stdout)["streams"]


# The ingest harness: a test program that starts workers and the given
# cameras (real sources) and prints each camera's state as JSON lines.
HARNESS = os.path.join(os.path.dirname(VIGIL_BIN), "tests", "test_rtsp_source_harness")


class Harness:
    """The ingest harness process and its latest JSON line per camera."""

    def __init__(self, cameras, dumps=()):
        assert os.path.exists(HARNESS), f"ingest harness not found at {HARNESS}"
        args = [HARNESS, "--harness"]
        for cam_id, path in dumps:
            args += ["--dump", f"{cam_id}={path}"]
        args += [json.dumps(c) for c in cameras]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, VG_LOG_LEVEL="info"))
        self.state = {}
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "id" in o:
                self.state[o["id"]] = o

    def cam(self, cam_id):
        return self.state.get(cam_id, {})

    def stop(self):
        self.proc.stdin.close()
        rc = self.proc.wait(20 * SLOW)
        assert rc == 0, "harness exited with %d:\n%s" % (rc, "".join(self.stderr)[-3000:])
        return "".join(self.stderr)


@pytest.fixture
def harness():
    hs = []

    def start(cameras, dumps=()):
        h = Harness(cameras, dumps)
        hs.append(h)
        return h

    yield start
    for h in hs:
        if h.proc.poll() is None:
            h.stop()


def camera(cam_id, url, **kw):
    c = {"id": cam_id, "url": url, "backoff_min_ms": 200, "backoff_max_ms": 1000}
    c.update(kw)
    return c
