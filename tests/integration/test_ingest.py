"""Black-box tests of vigil's RTSP camera ingest.

The media comes from a real peer: ffmpeg encodes a test pattern with libx264
and packetizes it as RTP (RFC 6184) with its own SDP. ffmpeg cannot serve
RTSP to a client by itself, so a small scripted RTSP server written here
(RtspPeer) answers OPTIONS/DESCRIBE/SETUP/PLAY with ffmpeg's SDP and relays
ffmpeg's RTP packets unchanged, over TCP interleaved or UDP. The scripting
is what injects faults: Digest authentication, a redirect, a connection
dropped after a while, malformed RTP, UDP that never arrives. (camsim will
add a second, independent peer.)

vigil's side runs in the ingest harness (tests/unit/test_rtsp_source_harness
--harness), which runs the camera sources on real worker loops and prints
each camera's state and counters as JSON lines, until `vigil run` has its
HTTP API.
"""
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import camera, harness, wait_for  # noqa: F401 (harness is a fixture)



def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


class RtpSource:
    """ffmpeg encoding a test pattern to RTP on a local UDP port."""

    def __init__(self, size="320x240", rate=25):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sdp_path = tempfile.mktemp(suffix=".sdp")
        self.proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
             f"testsrc=size={size}:rate={rate}", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
             "-g", str(rate), "-pkt_size", "1200", "-f", "rtp", "-sdp_file", self.sdp_path,
             f"rtp://127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.sdp_path) and "a=fmtp" in open(self.sdp_path).read(), 10,
                 what="ffmpeg's SDP")
        sdp = open(self.sdp_path).read()
        # As an RTSP server would announce it: no port, a control per track.
        sdp = re.sub(r"m=video \d+", "m=video 0", sdp)
        sdp = re.sub(r"c=IN IP4 \S+", "c=IN IP4 0.0.0.0", sdp)
        self.sdp = sdp.rstrip("\r\n").replace("\r\n", "\n").replace("\n", "\r\n") + "\r\na=control:trackID=0\r\n"
        self.sinks = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self):
        while True:
            try:
                pkt = self.sock.recv(65536)
            except OSError:
                return
            with self.lock:
                sinks = list(self.sinks)
            for sink in sinks:
                sink(pkt)

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        self.sock.close()


class RtspPeer:
    """A scripted RTSP 1.0 server relaying one RtpSource to each client."""

    def __init__(self, rtp, digest=None, redirect_from=None, drop_after=None, malformed_every=0,
                 udp_blackhole=False):
        self.rtp = rtp
        self.digest = digest  # (user, password)
        self.redirect_from = redirect_from
        self.drop_after = drop_after
        self.malformed_every = malformed_every
        self.udp_blackhole = udp_blackhole
        self.realm = "camera"
        self.nonce = secrets.token_hex(8)
        self.methods = []
        self.sessions = 0
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path="/live", creds=""):
        return f"rtsp://{creds}127.0.0.1:{self.port}{path}"

    def _accept(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _authorized(self, method, headers):
        if not self.digest:
            return True
        h = headers.get("authorization", "")
        if not h.startswith("Digest "):
            return False
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', h[7:]))
        user, password = self.digest
        if p.get("username") != user or p.get("nonce") != self.nonce:
            return False
        ha1 = md5(f"{user}:{self.realm}:{password}")
        ha2 = md5(f"{method}:{p.get('uri')}")
        if p.get("qop"):
            want = md5(f"{ha1}:{self.nonce}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
        else:
            want = md5(f"{ha1}:{self.nonce}:{ha2}")
        return p.get("response") == want

    def _serve(self, conn):
        buf = b""
        session = None
        playing_since = None
        wlock = threading.Lock()
        counter = [0]

        def send(data):
            with wlock:
                try:
                    conn.sendall(data)
                except OSError:
                    pass

        def reply(cseq, status="200 OK", headers=(), body=b""):
            lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}"] + list(headers)
            if body:
                lines.append(f"Content-Length: {len(body)}")
            send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

        def tcp_sink(pkt):
            counter[0] += 1
            if self.malformed_every and counter[0] % self.malformed_every == 0:
                # An RTP "packet" with version 0: garbage inside valid framing.
                bad = b"\x00" * 20
                send(b"$\x00" + len(bad).to_bytes(2, "big") + bad)
            send(b"$\x00" + len(pkt).to_bytes(2, "big") + pkt)

        sinks = []
        conn.settimeout(0.2)
        try:
            while True:
                if self.drop_after and playing_since and time.monotonic() - playing_since > self.drop_after:
                    return
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:  # the client reset the connection
                    return
                if not data:
                    return
                buf += data
                while True:
                    if buf.startswith(b"$"):  # RTCP from the client
                        if len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[2:4], "big"):
                            break
                        buf = buf[4 + int.from_bytes(buf[2:4], "big"):]
                        continue
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head, buf = buf[:end].decode(), buf[end + 4:]
                    lines = head.split("\r\n")
                    method, uri, _ = lines[0].split(" ")
                    headers = {}
                    for line in lines[1:]:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                    cseq = headers.get("cseq", "0")
                    self.methods.append(method)
                    if method == "OPTIONS":
                        reply(cseq, headers=["Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"])
                    elif not self._authorized(method, headers):
                        reply(cseq, "401 Unauthorized",
                              [f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{self.nonce}"'])
                    elif method == "DESCRIBE":
                        if self.redirect_from and uri.endswith(self.redirect_from):
                            reply(cseq, "302 Moved Temporarily", [f"Location: {self.url()}"])
                        else:
                            reply(cseq, headers=["Content-Type: application/sdp", f"Content-Base: {uri}/"],
                                  body=self.rtp.sdp.encode())
                    elif method == "SETUP":
                        session = secrets.token_hex(6)
                        tr = headers.get("transport", "")
                        m = re.search(r"client_port=(\d+)-(\d+)", tr)
                        if "TCP" in tr or not m:
                            sinks = [tcp_sink]
                            reply(cseq, headers=[f"Session: {session};timeout=4",
                                                 "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"])
                        else:
                            port = int(m.group(1))
                            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            udp.bind(("127.0.0.1", 0))
                            sp = udp.getsockname()[1]
                            if not self.udp_blackhole:
                                sinks = [lambda pkt, udp=udp, port=port: udp.sendto(pkt, ("127.0.0.1", port))]
                            reply(cseq, headers=[f"Session: {session};timeout=4",
                                                 f"Transport: RTP/AVP;unicast;client_port={port}-{port + 1};"
                                                 f"server_port={sp}-{sp + 1}"])
                    elif method == "PLAY":
                        reply(cseq, headers=[f"Session: {session}", "Range: npt=0.000-"])
                        playing_since = time.monotonic()
                        self.sessions += 1
                        with self.rtp.lock:
                            self.rtp.sinks.extend(sinks)
                    elif method in ("GET_PARAMETER", "TEARDOWN"):
                        reply(cseq, headers=[f"Session: {session}"])
                    else:
                        reply(cseq, "501 Not Implemented")
        finally:
            with self.rtp.lock:
                for s in sinks:
                    if s in self.rtp.sinks:
                        self.rtp.sinks.remove(s)
            conn.close()

    def close(self):
        self.srv.close()


@pytest.fixture
def rtp():
    src = RtpSource()
    yield src
    src.close()


def frames_rising(h, cam_id, more=10):
    start = h.cam(cam_id).get("frames", 0)
    wait_for(lambda: h.cam(cam_id).get("frames", 0) >= start + more, 10, what=f"{cam_id}'s frames to rise")


def test_tcp_ingest_decodes(rtp, harness, tmp_path):
    peer = RtspPeer(rtp)
    dump = tmp_path / "cam.h264"
    h = harness([camera("cam1", peer.url(), transport="tcp")], dumps=[("cam1", str(dump))])
    wait_for(lambda: h.cam("cam1").get("state") == "online", 10, what="cam1 online")
    wait_for(lambda: h.cam("cam1").get("read_frames", 0) >= 50, 10, what="50 frames through the hub")
    c = h.cam("cam1")
    assert c["tracks"][0]["codec"] == "H264"
    assert (c["tracks"][0]["width"], c["tracks"][0]["height"]) == (320, 240)
    assert c["bad_au"] == 0 and c["errors"] == 0 and c["rtp_lost"] == 0
    assert c["read_keys"] >= 1 and c["rtp_packets"] >= c["frames"]
    h.stop()
    assert "TEARDOWN" in peer.methods
    # What went through the hub is a decodable H.264 stream.
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(dump)],
                         capture_output=True, text=True, timeout=30)
    s = json.loads(out.stdout)["streams"][0]
    assert (s["codec_name"], s["width"], s["height"]) == ("h264", 320, 240)
    assert int(s["nb_read_frames"]) >= 50


def test_udp_ingest_and_keepalive(rtp, harness):
    peer = RtspPeer(rtp)
    h = harness([camera("cam1", peer.url(), transport="udp")])
    wait_for(lambda: h.cam("cam1").get("state") == "online", 10, what="cam1 online over UDP")
    frames_rising(h, "cam1", 50)
    c = h.cam("cam1")
    assert c["bad_au"] == 0 and c["rtp_packets"] > 0
    # The session timeout is 4 s: a keep-alive must have gone out by 3 s.
    wait_for(lambda: "GET_PARAMETER" in peer.methods, 5, what="a keep-alive")
    h.stop()


def test_auto_falls_back_to_tcp(rtp, harness):
    peer = RtspPeer(rtp, udp_blackhole=True)
    h = harness([camera("cam1", peer.url(), transport="auto")])
    wait_for(lambda: h.cam("cam1").get("state") == "online", 15, what="cam1 online after the fallback")
    frames_rising(h, "cam1", 10)
    err = h.stop()
    assert "falling back to TCP" in err


def test_digest_auth_with_encoded_password(rtp, harness):
    peer = RtspPeer(rtp, digest=("admin", "p@ss:w rd"))
    h = harness([camera("good", peer.url(creds="admin:p%40ss%3Aw%20rd@")),
                 camera("bad", peer.url(creds="admin:wrong@"))])
    wait_for(lambda: h.cam("good").get("state") == "online", 10, what="good online with Digest")
    wait_for(lambda: "authentication failed" in h.cam("bad").get("last_error", ""), 10,
             what="bad camera's authentication failure")
    assert h.cam("bad")["frames"] == 0
    frames_rising(h, "good")
    h.stop()


def test_redirect_is_followed(rtp, harness):
    peer = RtspPeer(rtp, redirect_from="/old")
    h = harness([camera("cam1", peer.url("/old"))])
    wait_for(lambda: h.cam("cam1").get("state") == "online", 10, what="cam1 online after a redirect")
    frames_rising(h, "cam1")
    h.stop()


def test_flapping_camera_does_not_disturb_another(rtp, harness):
    steady = RtspPeer(rtp)
    flaky = RtspPeer(rtp, drop_after=1.0)
    h = harness([camera("steady", steady.url()), camera("flaky", flaky.url())])
    wait_for(lambda: h.cam("steady").get("state") == "online", 10, what="steady online")
    wait_for(lambda: h.cam("flaky").get("reconnects", 0) >= 2 and flaky.sessions >= 3, 20,
             what="the flaky camera to reconnect twice")
    assert "closed" in h.cam("flaky")["last_error"]
    # Meanwhile the steady camera never stopped.
    frames_rising(h, "steady", 25)
    assert h.cam("steady")["reconnects"] == 0 and h.cam("steady")["state"] == "online"
    h.stop()


def test_malformed_rtp_is_dropped_not_fatal(rtp, harness):
    peer = RtspPeer(rtp, malformed_every=5)
    h = harness([camera("cam1", peer.url())])
    wait_for(lambda: h.cam("cam1").get("errors", 0) >= 20, 10, what="malformed packets counted")
    frames_rising(h, "cam1", 25)
    c = h.cam("cam1")
    assert c["state"] == "online" and c["reconnects"] == 0 and c["bad_au"] == 0
    h.stop()


@pytest.mark.parametrize("uring", ["1", "0"])
def test_tcp_ingest_through_small_receive_buffers(rtp, harness, tmp_path, monkeypatch, uring):
    """Over TCP, a playing camera is received through the worker's io_uring
    (or, with VIGIL_IO_URING=0, through libuv). With 700-byte receive buffers
    every 1200-byte RTP packet straddles two buffers: every frame must still
    arrive whole and decode."""
    monkeypatch.setenv("VIGIL_IO_URING", uring)
    monkeypatch.setenv("VIGIL_IO_URING_BUF", "700")
    peer = RtspPeer(rtp)
    dump = tmp_path / "cam.h264"
    h = harness([camera("cam1", peer.url(), transport="tcp"), camera("cam2", peer.url(), transport="tcp")],
                dumps=[("cam1", str(dump))])
    for cam in ("cam1", "cam2"):
        wait_for(lambda: h.cam(cam).get("read_frames", 0) >= 50, 15, what=f"50 frames of {cam}")
    # Keep-alive answers (the session timeout is 4 s) arrive between the
    # interleaved frames, as text through the same small buffers.
    wait_for(lambda: peer.methods.count("GET_PARAMETER") >= 4, 10, what="keep-alives of both cameras")
    for cam in ("cam1", "cam2"):
        frames_rising(h, cam, 25)
        c = h.cam(cam)
        assert c["bad_au"] == 0 and c["errors"] == 0 and c["rtp_lost"] == 0 and c["reconnects"] == 0
    err = h.stop()
    assert ("through io_uring" in err and "buffers of 700 bytes" in err) == (uring == "1")
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(dump)],
                         capture_output=True, text=True, timeout=30)
    s = json.loads(out.stdout)["streams"][0]
    assert (s["codec_name"], s["width"], s["height"]) == ("h264", 320, 240)
    assert int(s["nb_read_frames"]) >= 50
