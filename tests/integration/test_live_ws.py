"""Live view for browsers: fMP4 over WebSocket (docs/LIVE.md) and the HLS
fallback, against a real vigil fed by camsim. The WebSocket client is a
minimal RFC 6455 client written here with the standard library.
"""
import base64
import hashlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, free_port, http_get, wait_for
from test_auth import AUTH, ADMIN_PW, basic, call, login
from test_e2e import start_camsim

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WsError(Exception):
    def __init__(self, status, head, body):
        super().__init__(f"upgrade refused: {status}")
        self.status, self.head, self.body = status, head, body


class WsClient:
    """Handshake, then reads whole messages (text or binary); sends only a close."""

    def __init__(self, port, path, headers=None, rcvbuf=None, timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout * SLOW)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise WsError(0, self.buf, b"")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(self.buf) < length:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
            self.sock.close()
            raise WsError(status, head.decode(errors="replace"), self.buf[:length])
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert f"sec-websocket-accept: {accept}".lower().encode() in head.lower()

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next message: ("text", str), ("binary", bytes) or ("close", code)."""
        parts, kind = [], None
        while True:
            b0, b1 = self._need(2)
            fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            assert not masked, "server frames are never masked"
            if n == 126:
                n = struct.unpack(">H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._need(8))[0]
            payload = self._need(n)
            if opcode == 8:
                return "close", struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            if opcode in (9, 10):
                continue  # ping/pong: nothing to do for this client
            if opcode in (1, 2):
                kind = "text" if opcode == 1 else "binary"
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                return (kind, data.decode()) if kind == "text" else (kind, data)

    def close(self):
        try:
            mask = os.urandom(4)
            payload = struct.pack(">H", 1000)
            self.sock.sendall(bytes([0x88, 0x80 | len(payload)]) + mask +
                              bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        except OSError:
            pass
        self.sock.close()


def read_stream(ws, fragments):
    """Reads the codec message, the init segment and `fragments` fragments."""
    kind, text = ws.recv()
    assert kind == "text", (kind, text)
    codec = json.loads(text)
    kind, init = ws.recv()
    assert kind == "binary" and init[4:8] == b"ftyp", init[:16]
    frags, texts = [], []
    while len(frags) < fragments:
        kind, data = ws.recv()
        if kind == "binary":
            # A prft (the frame's arrival on vigil's wall clock) leads each
            # fragment; MSE and FFmpeg skip it.
            assert data[4:8] == b"prft" and data[36:40] == b"moof", data[:48]
            frags.append(data)
        else:
            texts.append(data)
    return codec, init, frags, texts


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-count_frames", "-of", "json", path],
                         capture_output=True, timeout=60 * SLOW)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["streams"]


def decode_errors(path):
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True,
                       timeout=60 * SLOW)
    return r.returncode, r.stderr.decode(errors="replace")


def metric(base, name, headers=None):
    req = urllib.request.Request(base + "/metrics", headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def live_node(vigil_bin, start_process, vigil_node):
    def start(codec="h264", size="320x240", bitrate="300k", cfg=None, audio="none"):
        sim = start_camsim(start_process, vigil_bin, 1, codec=codec, size=size, extra=("--audio", audio))
        if bitrate != "300k":  # a second camsim at another bitrate (start_camsim fixes 300k)
            port = free_port()
            p = start_process([vigil_bin, "camsim", "--bind", "127.0.0.1", "--port", str(port), "--cameras", "1",
                               "--codec", codec, "--size", size, "--fps", "25", "--bitrate", bitrate, "--gop",
                               "25", "--duration-s", "2", "--workers", "1"], "camsim2")
            p.wait_output("camsim: serving", 120)
            sim = port
        config = {"cameras": [{"id": "cam1", "url": f"rtsp://127.0.0.1:{sim}/cam1"}]}
        cfg = dict(cfg or {})
        if cfg.pop("extra_cameras", False):  # one that never comes online
            config["cameras"].append({"id": "off", "url": "rtsp://127.0.0.1:1/x", "backoff_min_ms": 60000,
                                      "backoff_max_ms": 60000})
        config.update(cfg)
        proc, http, _ = vigil_node(config)
        base = f"http://127.0.0.1:{http}"
        return proc, http, base

    return start


def wait_online(base, headers=None):
    def online():
        req = urllib.request.Request(base + "/api/v1/cameras/cam1", headers=headers or {})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())["state"] == "online"
    wait_for(online, 30, what="cam1 online")


@pytest.mark.parametrize("codec,tag,mime", [("h264", "avc1", "avc1.")])
def test_ws_stream_decodes(live_node, tmp_path, codec, tag, mime):
    _, http, base = live_node(codec=codec)
    wait_online(base)
    ws = WsClient(http, "/api/v1/cameras/cam1/live.ws")
    codec_msg, init, frags, _ = read_stream(ws, 50)
    received_at = time.time()
    ws.close()
    assert codec_msg["type"] == "codec" and codec_msg["camera"] == "cam1"
    # prft: version 1, the video track, decode times going on one frame at a
    # time, and the last frame's arrival on vigil's wall clock (the same
    # machine's clock) a moment before it reached us.
    prfts = [struct.unpack(">I4sIIQQ", f[:32]) for f in frags]
    assert all(p[2] == 1 << 24 and p[3] == 1 for p in prfts), prfts[0]
    media = [p[5] for p in prfts]
    assert media == sorted(media) and len(set(media)) == 50, media
    arrived = (prfts[-1][4] >> 32) - 2208988800 + (prfts[-1][4] & 0xFFFFFFFF) / 2**32
    assert received_at - 2 * SLOW < arrived <= received_at + 0.01, (arrived, received_at)
    assert codec_msg["codecs"].startswith(mime), codec_msg
    assert codec_msg["mime"] == f'video/mp4; codecs="{codec_msg["codecs"]}"'
    video = codec_msg["tracks"][0]
    assert (video["kind"], video["width"], video["height"]) == ("video", 320, 240)
    # One fragment per frame: small messages, the first one a keyframe's.
    assert len(frags) == 50
    path = tmp_path / "live.mp4"
    path.write_bytes(init + b"".join(frags))
    streams = probe(str(path))
    v = [s for s in streams if s["codec_type"] == "video"][0]
    assert (v["codec_tag_string"], v["width"], v["height"]) == (tag, 320, 240)
    assert int(v["nb_read_frames"]) == 50
    rc, err = decode_errors(str(path))
    assert rc == 0 and err == "", err
    # Metrics: bytes were counted and the latency histogram has observations.
    assert metric(base, "vigil_live_bytes_total") > sum(map(len, frags))
    # Frames from the GOP cache are not live: at least the other half was measured.
    assert metric(base, "vigil_live_latency_observations_total") >= 25


def test_ws_h264_aac(live_node, tmp_path):
    _, http, base = live_node(audio="aac")
    wait_online(base)
    ws = WsClient(http, "/api/v1/cameras/cam1/live.ws")
    codec_msg, init, frags, _ = read_stream(ws, 50)
    ws.close()
    assert codec_msg["codecs"].startswith("avc1.") and codec_msg["codecs"].endswith(",mp4a.40.2"), codec_msg
    audio = codec_msg["tracks"][1]
    assert (audio["kind"], audio["codec"], audio["sample_rate"], audio["channels"]) == ("audio", "AAC", 16000, 1)
    path = tmp_path / "live_aac.mp4"
    path.write_bytes(init + b"".join(frags))
    kinds = {s["codec_type"]: s for s in probe(str(path))}
    assert kinds["audio"]["codec_name"] == "aac" and int(kinds["audio"]["nb_read_frames"]) > 10
    rc, err = decode_errors(str(path))
    assert rc == 0 and err == "", err
    # audio=0 leaves it out.
    ws = WsClient(http, "/api/v1/cameras/cam1/live.ws?audio=0")
    codec_msg = read_stream(ws, 1)[0]
    ws.close()
    assert "," not in codec_msg["codecs"] and len(codec_msg["tracks"]) == 1


def test_ws_h265(live_node, tmp_path):
    _, http, base = live_node(codec="h265")
    wait_online(base)
    ws = WsClient(http, "/api/v1/cameras/cam1/live.ws")
    codec_msg, init, frags, _ = read_stream(ws, 30)
    ws.close()
    assert codec_msg["codecs"].startswith("hvc1."), codec_msg
    path = tmp_path / "live265.mp4"
    path.write_bytes(init + b"".join(frags))
    v = [s for s in probe(str(path)) if s["codec_type"] == "video"][0]
    assert (v["codec_name"], v["width"], v["height"]) == ("hevc", 320, 240)
    rc, err = decode_errors(str(path))
    assert rc == 0 and err == "", err


def test_slow_viewer_skipped_others_unaffected(live_node):
    _, http, base = live_node(size="640x360", bitrate="2M")
    wait_online(base)
    # A viewer that never reads, with a tiny receive window.
    stuck = WsClient(http, "/api/v1/cameras/cam1/live.ws", rcvbuf=4096)
    good = WsClient(http, "/api/v1/cameras/cam1/live.ws")
    t0 = time.monotonic()
    _, _, frags, _ = read_stream(good, 5)
    got = len(frags)
    while metric(base, "vigil_live_skips_total") < 1:
        assert time.monotonic() - t0 < 40 * SLOW, "the stuck viewer was never skipped"
        kind, data = good.recv()
        if kind == "binary":
            got += 1
        else:
            assert json.loads(data)["type"] != "skip", "the reading viewer was skipped"
    # The reading viewer kept pace: about 25 fragments per second.
    elapsed = time.monotonic() - t0
    assert got >= 25 * elapsed * 0.7, (got, elapsed)
    assert metric(base, "vigil_live_dropped_frames_total") >= 1
    assert metric(base, "vigil_live_viewers") == 2
    stuck.close()
    good.close()
    wait_for(lambda: metric(base, "vigil_live_viewers") == 0, 10, what="viewers gone")


def test_viewers_share_fragments(live_node):
    """A video wall: the viewers of one camera get the very same fragments
    (built once, shared) from their start on, a viewer joining later starts
    at a keyframe with the others' bytes, and a stuck viewer's skips touch
    none of them."""
    _, http, base = live_node(size="640x360", bitrate="2M")
    wait_online(base)
    stuck = WsClient(http, "/api/v1/cameras/cam1/live.ws", rcvbuf=4096)
    a = WsClient(http, "/api/v1/cameras/cam1/live.ws")
    b = WsClient(http, "/api/v1/cameras/cam1/live.ws")
    codec_a, init_a, frags = {}, {}, {}
    for name, ws in (("a", a), ("b", b)):
        codec_a[name], init_a[name], frags[name], _ = read_stream(ws, 7)
    c = WsClient(http, "/api/v1/cameras/cam1/live.ws")  # mid-GOP (GOP 25), most likely
    codec_a["c"], init_a["c"], frags["c"], _ = read_stream(c, 1)
    assert codec_a["a"] == codec_a["b"] == codec_a["c"]
    assert init_a["a"] == init_a["b"] == init_a["c"]
    t0 = time.monotonic()
    skipped_at = None
    while skipped_at is None or time.monotonic() - skipped_at < 2:
        assert time.monotonic() - t0 < 40 * SLOW, "the stuck viewer was never skipped"
        for name, ws in (("a", a), ("b", b), ("c", c)):
            kind, data = ws.recv()
            if kind == "binary":
                frags[name].append(data)
            else:
                assert json.loads(data)["type"] != "skip", f"reading viewer {name} was skipped"
        if skipped_at is None and len(frags["a"]) % 25 == 0 and metric(base, "vigil_live_skips_total") >= 1:
            skipped_at = time.monotonic()
    for ws in (stuck, a, b, c):
        ws.close()
    # b and c: a run of a's fragments, byte for byte, from their first one on.
    fa = frags["a"]
    for name in ("b", "c"):
        mine = frags[name]
        assert mine[0] in fa, f"{name}'s first fragment is not one a got"
        at = fa.index(mine[0])
        n = min(len(mine), len(fa) - at)
        assert n > 100, (name, n)
        assert mine[:n] == fa[at:at + n], f"{name}'s fragments differ from a's"
    # c started at a keyframe: its first fragment's first video sample is a
    # sync sample (trun's first_sample_flags, or the default, not
    # sample_is_non_sync).
    assert fragment_starts_with_key(frags["c"][0])
    assert metric(base, "vigil_live_dropped_frames_total") >= 1


def fragment_starts_with_key(frag):
    """Whether the video track's first sample in this prft+moof+mdat is a sync sample."""
    moof = frag[32:]
    size = struct.unpack(">I", moof[:4])[0]
    pos, tfhd_flags, default_flags = 8, None, None
    while pos < size:
        bsize, btype = struct.unpack(">I4s", moof[pos:pos + 8])
        if btype == b"traf":
            p, track = pos + 8, None
            while p < pos + bsize:
                csize, ctype = struct.unpack(">I4s", moof[p:p + 8])
                body = moof[p + 8:p + csize]
                if ctype == b"tfhd":
                    tfhd_flags = int.from_bytes(body[1:4], "big")
                    track = struct.unpack(">I", body[4:8])[0]
                    q = 8 + (8 if tfhd_flags & 1 else 0) + (4 if tfhd_flags & 2 else 0) + \
                        (4 if tfhd_flags & 8 else 0) + (4 if tfhd_flags & 0x10 else 0)
                    default_flags = struct.unpack(">I", body[q:q + 4])[0] if tfhd_flags & 0x20 else None
                elif ctype == b"trun" and track == 1:
                    flags = int.from_bytes(body[1:4], "big")
                    q = 8 + (4 if flags & 1 else 0)
                    sample_flags = struct.unpack(">I", body[q:q + 4])[0] if flags & 4 else None
                    if sample_flags is None and flags & 0x400:
                        q += (4 if flags & 0x100 else 0) + (4 if flags & 0x200 else 0)
                        sample_flags = struct.unpack(">I", body[q:q + 4])[0]
                    if sample_flags is None:
                        sample_flags = default_flags
                    assert sample_flags is not None, "no sample flags for the video's first sample"
                    return not sample_flags & 0x10000
                p += csize
        pos += bsize
    raise AssertionError("no video trun")


def test_ws_errors_without_auth(live_node):
    _, http, base = live_node(cfg={"extra_cameras": True})
    with pytest.raises(WsError) as e:
        WsClient(http, "/api/v1/cameras/nope/live.ws")
    assert e.value.status == 404 and json.loads(e.value.body)["error"]["code"] == "not_found"
    with pytest.raises(WsError) as e:
        WsClient(http, "/api/v1/cameras/cam1/other.ws")
    assert e.value.status == 404
    # A camera that is offline: the viewer is told, and the socket stays open.
    wait_for(lambda: json.loads(http_get(base + "/api/v1/cameras/off")[2])["state"] == "offline", 20,
             what="camera 'off' offline")
    ws = WsClient(http, "/api/v1/cameras/off/live.ws")
    kind, text = ws.recv()
    assert kind == "text" and json.loads(text)["type"] == "end", text
    ws.close()
    # A plain GET is told to upgrade.
    status, _, body = call(base, "GET", "/api/v1/cameras/cam1/live.ws")
    assert status == 426, body


def test_ws_auth_and_tickets(live_node, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_ADMIN_PASSWORD", ADMIN_PW)
    _, http, base = live_node(cfg={"auth": dict(AUTH, secret_key_file=str(tmp_path / "secret.key"))})
    admin = basic("admin", ADMIN_PW)
    wait_online(base, admin)
    with pytest.raises(WsError) as e:
        WsClient(http, "/api/v1/cameras/cam1/live.ws")
    assert e.value.status == 401 and json.loads(e.value.body)["error"]["code"] == "unauthorized"
    with pytest.raises(WsError) as e:
        WsClient(http, "/api/v1/cameras/cam1/live.ws?ticket=vlt_" + "0" * 32)
    assert e.value.status == 401
    # Session cookie.
    cookie, _, _ = login(base, "admin", ADMIN_PW)
    ws = WsClient(http, "/api/v1/cameras/cam1/live.ws", headers=cookie)
    assert read_stream(ws, 2)[0]["type"] == "codec"
    ws.close()
    # A one-time ticket: works once, for its camera only.
    status, _, t = call(base, "POST", "/api/v1/cameras/cam1/live-ticket", {}, headers=cookie)
    assert status == 200 and t["expires_in"] == 30 and t["url"].endswith(t["ticket"]), t
    ws = WsClient(http, t["url"])
    assert read_stream(ws, 2)[0]["type"] == "codec"
    ws.close()
    with pytest.raises(WsError) as e:
        WsClient(http, t["url"])
    assert e.value.status == 401
    # A viewer without the live permission sees no camera.
    status, _, _ = call(base, "POST", "/api/v1/users", {"name": "eve", "password": "eve password",
                        "role": "viewer", "permissions": {}}, headers=admin)
    assert status in (200, 201)
    eve, _, _ = login(base, "eve", "eve password")
    with pytest.raises(WsError) as e:
        WsClient(http, "/api/v1/cameras/cam1/live.ws", headers=eve)
    assert e.value.status == 404
    assert call(base, "POST", "/api/v1/cameras/cam1/live-ticket", {}, headers=eve)[0] == 404
    assert call(base, "GET", "/api/v1/cameras/cam1/live.m3u8", headers=eve)[0] == 404


def test_hls(live_node, tmp_path):
    _, http, base = live_node()
    wait_online(base)
    status, hdrs, body = http_get(base + "/api/v1/cameras/cam1/live.m3u8")
    assert status == 200 and hdrs["Content-Type"] == "application/vnd.apple.mpegurl"
    text = body.decode()
    assert text.startswith("#EXTM3U") and '#EXT-X-MAP:URI="live/init.mp4"' in text, text
    # After a few GOPs the window holds several segments of about 1 s.
    time.sleep(3.5)
    text = http_get(base + "/api/v1/cameras/cam1/live.m3u8")[2].decode()
    segs = [line for line in text.splitlines() if line.endswith(".m4s")]
    assert len(segs) >= 3, text
    init = http_get(base + "/api/v1/cameras/cam1/live/init.mp4")[2]
    data = b"".join(http_get(f"{base}/api/v1/cameras/cam1/{s}")[2] for s in segs)
    path = tmp_path / "hls.mp4"
    path.write_bytes(init + data)
    v = [s for s in probe(str(path)) if s["codec_type"] == "video"][0]
    assert (v["width"], v["height"]) == (320, 240) and int(v["nb_read_frames"]) >= 50
    rc, err = decode_errors(str(path))
    assert rc == 0 and err == "", err
    # ffmpeg plays the playlist itself.
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", base + "/api/v1/cameras/cam1/live.m3u8", "-t", "1",
                        "-f", "null", "-"], capture_output=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    with pytest.raises(urllib.error.HTTPError) as e:
        http_get(base + "/api/v1/cameras/cam1/live/999999.m4s")
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        http_get(base + "/api/v1/cameras/nope/live.m3u8")
    assert e.value.code == 404


def churn_viewers(http, seconds, open_max=30):
    """Viewers come and go at random, about open_max at a time, as a crowd
    of flaky clients (or an attacker) would: each has a tiny receive window
    and reads little or nothing, so vigil has part of a message left to send
    when it goes; it leaves by a plain close (often a reset), after draining
    what it got (a FIN), or by half-closing its side first. Returns the
    handshakes that failed (with the reason of the first)."""
    rng = random.Random(1)
    opened, failed, first_error = [], 0, None
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        if opened and (len(opened) >= open_max or rng.random() < 0.4):
            ws = opened.pop(rng.randrange(len(opened)))
            how = rng.random()
            try:
                if how < 0.3:
                    ws.sock.shutdown(socket.SHUT_WR)
                elif how < 0.7:
                    ws.sock.setblocking(False)
                    while ws.sock.recv(1 << 16):
                        pass
            except OSError:
                pass
            ws.sock.close()
        else:
            try:
                ws = WsClient(http, "/api/v1/cameras/cam1/live.ws" + rng.choice(["", "?audio=0"]), rcvbuf=4096,
                              timeout=2)
                opened.append(ws)
            except (OSError, WsError) as e:
                failed += 1
                first_error = first_error or repr(e)
                if failed >= 3:
                    break
        for ws in opened:
            if rng.random() < 0.2:
                try:
                    ws.sock.setblocking(False)
                    ws.sock.recv(1 << 16)
                except OSError:
                    pass
        time.sleep(rng.random() * 0.03)
    for ws in opened:
        ws.sock.close()
    return failed, first_error


def test_viewer_churn_keeps_server_responsive(live_node):
    """Viewers connecting and leaving at random must never wedge the HTTP
    server's thread: afterwards the API answers at once, and SIGTERM stops
    the node within seconds. (lws 4.1.6 spun for ever on a viewer that went,
    even by a half-close, while lws still held part of a message for it.)"""
    proc, http, base = live_node(size="1280x720", bitrate="4M")
    wait_online(base)
    # The simplest case first: one viewer that reads nothing, then half-closes.
    ws = WsClient(http, "/api/v1/cameras/cam1/live.ws", rcvbuf=4096)
    time.sleep(2)
    ws.sock.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    try:
        with urllib.request.urlopen(base + "/api/v1/health", timeout=1 * SLOW) as r:
            assert r.status == 200
    except OSError as e:
        pytest.fail(f"one half-closed viewer wedged the HTTP server: {e!r}")
    ws.sock.close()
    failed, first_error = churn_viewers(http, 8)
    assert failed == 0, f"{failed} handshakes failed during the churn: {first_error}"
    t0 = time.monotonic()
    with urllib.request.urlopen(base + "/api/v1/health", timeout=1 * SLOW) as r:
        assert r.status == 200
    assert time.monotonic() - t0 < 1 * SLOW
    t0 = time.monotonic()
    proc.p.send_signal(signal.SIGTERM)
    try:
        rc = proc.p.wait(5 * SLOW)
    except subprocess.TimeoutExpired:
        pytest.fail("vigil ignored SIGTERM after the viewer churn")
    assert rc == 0, proc.output()[-3000:]
    assert "did not stop" not in proc.output()
