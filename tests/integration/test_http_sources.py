"""Black-box tests of vigil's HTTP camera sources (JPEG snapshots, MJPEG).

The peer is Python's standard library: an http.server that serves real JPEGs
(made by ffmpeg from its test pattern) as a snapshot URL, as a
multipart/x-mixed-replace MJPEG stream (with and without per-part
Content-Length, optionally chunked), behind Basic or Digest authentication,
and one URL that answers garbage. vigil runs in the ingest harness
(tests/unit/test_rtsp_source_harness --harness), as in test_ingest.py.
"""
import hashlib
import http.server
import re
import subprocess
import threading
import time

import pytest

from conftest import camera, harness, wait_for  # noqa: F401 (harness is a fixture)


def make_jpegs(tmp_path, n=3):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=5", "-frames:v", str(n), str(tmp_path / "f%d.jpg")], check=True)
    return [(tmp_path / f"f{i + 1}.jpg").read_bytes() for i in range(n)]


class CameraHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    jpegs = []
    requests = []
    nonce = "0123456789abcdef"

    def log_message(self, *args):
        pass

    def _auth_ok(self, scheme, user="admin", password="s3cret"):
        h = self.headers.get("Authorization", "")
        if scheme == "basic":
            import base64
            return h == "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if not h.startswith("Digest "):
            return False
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', h[7:]))
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        ha1, ha2 = md5(f"{user}:cam:{password}"), md5(f"GET:{p.get('uri')}")
        if p.get("qop"):
            want = md5(f"{ha1}:{self.nonce}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
        else:
            want = md5(f"{ha1}:{self.nonce}:{ha2}")
        return p.get("response") == want

    def _challenge(self, scheme):
        self.send_response(401)
        if scheme == "basic":
            self.send_header("WWW-Authenticate", 'Basic realm="cam"')
        else:
            self.send_header("WWW-Authenticate", f'Digest realm="cam", nonce="{self.nonce}", qop="auth"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        CameraHandler.requests.append(self.path)
        i = len(CameraHandler.requests) % len(self.jpegs)
        if self.path.startswith("/basic/") or self.path.startswith("/digest/"):
            scheme = self.path.split("/")[1]
            if not self._auth_ok(scheme):
                return self._challenge(scheme)
        if self.path.endswith("/snap.jpg"):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(self.jpegs[i])))
            self.end_headers()
            self.wfile.write(self.jpegs[i])
        elif self.path.endswith("/chunked.jpg"):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            data = self.jpegs[i]
            for k in range(0, len(data), 1000):
                part = data[k:k + 1000]
                self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.endswith("/moved.jpg"):
            self.send_response(302)
            self.send_header("Location", "/snap.jpg")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.endswith("/garbage"):
            self.wfile.write(b"this is not HTTP at all\r\n\r\n")
        elif "/mjpeg" in self.path:
            with_length = "nolength" not in self.path
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=--vigilframe")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for k in range(10000):
                    data = self.jpegs[k % len(self.jpegs)]
                    head = b"--vigilframe\r\nContent-Type: image/jpeg\r\n"
                    if with_length:
                        head += b"Content-Length: %d\r\n" % len(data)
                    self.wfile.write(head + b"\r\n" + data + b"\r\n")
                    self.wfile.flush()
                    time.sleep(0.04)
            except OSError:
                pass
        else:
            self.send_error(404)


@pytest.fixture
def camera_server(tmp_path):
    CameraHandler.jpegs = make_jpegs(tmp_path)
    CameraHandler.requests = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CameraHandler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def snap(cam_id, url, **kw):
    return camera(cam_id, url, type="snapshot", snapshot_interval_ms=100, **kw)


def test_snapshots_become_frames(camera_server, harness, tmp_path):
    dump = tmp_path / "snap.mjpeg"
    h = harness([snap("plain", f"http://{camera_server}/snap.jpg"),
                 snap("chunked", f"http://{camera_server}/chunked.jpg"),
                 snap("moved", f"http://{camera_server}/moved.jpg")], dumps=[("plain", str(dump))])
    for cam in ("plain", "chunked", "moved"):
        wait_for(lambda: h.cam(cam).get("frames", 0) >= 5, 10, what=f"{cam}'s snapshots")
        c = h.cam(cam)
        assert c["state"] == "online"
        assert c["tracks"][0]["codec"] == "JPEG"
        assert (c["tracks"][0]["width"], c["tracks"][0]["height"]) == (160, 120)
        assert c["errors"] == 0
    h.stop()
    # The frames are the server's JPEGs, byte for byte.
    data = dump.read_bytes()
    assert data.count(b"\xff\xd8\xff") >= 5
    # Which of the server's pictures a camera gets depends on how the three
    # cameras' requests interleave, so any of them will do; all must be whole.
    assert any(j in data for j in CameraHandler.jpegs)
    assert data.count(b"\xff\xd8\xff") == data.count(b"\xff\xd9")


def test_mjpeg_streams(camera_server, harness):
    h = harness([camera("len", f"http://{camera_server}/mjpeg", type="mjpeg"),
                 camera("nolen", f"http://{camera_server}/mjpeg-nolength", type="mjpeg")])
    for cam in ("len", "nolen"):
        wait_for(lambda: h.cam(cam).get("read_frames", 0) >= 20, 10, what=f"{cam}'s MJPEG parts")
        c = h.cam(cam)
        assert c["state"] == "online" and c["errors"] == 0 and c["reconnects"] == 0
        assert (c["tracks"][0]["width"], c["tracks"][0]["height"]) == (160, 120)
    h.stop()


def test_basic_and_digest_auth(camera_server, harness):
    h = harness([snap("basic", f"http://admin:s3cret@{camera_server}/basic/snap.jpg"),
                 camera("digest", f"http://admin:s3cret@{camera_server}/digest/mjpeg", type="mjpeg"),
                 snap("wrong", f"http://admin:nope@{camera_server}/digest/snap.jpg"),
                 snap("nocreds", f"http://{camera_server}/basic/snap.jpg")])
    wait_for(lambda: h.cam("basic").get("frames", 0) >= 3, 10, what="Basic snapshots")
    wait_for(lambda: h.cam("digest").get("frames", 0) >= 10, 10, what="Digest MJPEG")
    wait_for(lambda: "wrong user or password" in h.cam("wrong").get("last_error", ""), 10, what="wrong password")
    wait_for(lambda: "no credentials" in h.cam("nocreds").get("last_error", ""), 10, what="missing credentials")
    h.stop()


def test_bad_peers_fail_cleanly(camera_server, harness):
    h = harness([snap("garbage", f"http://{camera_server}/garbage"),
                 snap("missing", f"http://{camera_server}/nothing.jpg"),
                 camera("notmultipart", f"http://{camera_server}/snap.jpg", type="mjpeg"),
                 snap("good", f"http://{camera_server}/snap.jpg")])
    wait_for(lambda: "malformed HTTP response" in h.cam("garbage").get("last_error", ""), 10, what="garbage")
    wait_for(lambda: "404" in h.cam("missing").get("last_error", ""), 10, what="404")
    wait_for(lambda: "not an MJPEG stream" in h.cam("notmultipart").get("last_error", ""), 10, what="not multipart")
    assert h.cam("garbage")["errors"] >= 1
    wait_for(lambda: h.cam("good").get("frames", 0) >= 5, 10, what="the good camera going on")
    h.stop()
