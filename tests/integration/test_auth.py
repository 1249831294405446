"""Black-box tests of access control with auth on: a real vigil, its HTTP API
(sessions, tokens, Basic, roles, per-camera permissions, lockout, the
first-start admin, TLS) and its RTSP server (database users over Basic).
"""
import base64
import json
import os
import re
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, free_port, wait_for

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
ADMIN_PW = "admin password 1"
# Cheap hashes keep the suite fast; the first-start test runs with the defaults.
AUTH = {"enabled": True, "argon2_t_cost": 1, "argon2_m_kib": 4096, "max_failures": 4, "lockout_s": 60}


def call(base, method, path, body=None, headers=None, context=None):
    """One request; returns (status, headers, parsed JSON body or text)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(base + path, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW, context=context) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode(errors="replace")


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def session_cookie(hdrs):
    for v in hdrs.get_all("Set-Cookie") or []:
        if v.startswith("vigil_session="):
            return v
    return None


def login(base, user, password, context=None):
    status, hdrs, body = call(base, "POST", "/api/v1/login", {"username": user, "password": password},
                              context=context)
    assert status == 200, body
    cookie = session_cookie(hdrs)
    return {"Cookie": cookie.split(";")[0]}, cookie, body


def documented_routes():
    """(method, path) of every route docs/openapi.json lists, with whether it is public."""
    with open(os.path.join(REPO, "docs", "openapi.json")) as f:
        doc = json.load(f)
    for path, item in doc["paths"].items():
        if path == "/{file}":
            continue
        for method, op in item.items():
            if method == "parameters":
                continue
            public = op.get("security", doc.get("security")) == []
            yield method.upper(), re.sub(r"\{[^}]+\}", "x1", path), public


@pytest.fixture
def node(vigil_node, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_ADMIN_PASSWORD", ADMIN_PW)
    cfg = {"auth": dict(AUTH, secret_key_file=str(tmp_path / "secret.key")),
           "database": {"path": str(tmp_path / "vigil.db")},
           "rtsp_server": {"allow_publish": True},
           "cameras": [
               {"id": "door", "url": "rtsp://cam:s3cr3t@127.0.0.1:1/live", "backoff_min_ms": 60000,
                "backoff_max_ms": 60000},
               {"id": "yard", "url": "rtsp://127.0.0.1:1/x", "backoff_min_ms": 60000, "backoff_max_ms": 60000}]}
    proc, http, rtsp = vigil_node(cfg)
    return proc, f"http://127.0.0.1:{http}", rtsp, tmp_path


def test_every_non_public_route_needs_credentials(node):
    _, base, _, _ = node
    seen = 0
    for method, path, public in documented_routes():
        # A PUT or PATCH without Content-Length makes the server wait for a body.
        body = {} if method in ("POST", "PUT", "PATCH") else None
        status, hdrs, answer = call(base, method, path, body)
        if public:
            assert status != 401, (method, path)
            continue
        seen += 1
        assert status == 401, (method, path, status, answer)
        assert answer["error"]["code"] == "unauthorized"
        assert hdrs.get("WWW-Authenticate", "").startswith("Bearer"), (method, path)
    assert seen >= 14
    # Junk credentials of each kind are refused the same way.
    for h in ({"Authorization": "Bearer vgt_" + "0" * 64}, {"Cookie": "vigil_session=vgs_" + "1" * 64},
              {"Authorization": "Bearer nonsense"}, {"Cookie": "vigil_session=" + "x" * 500}):
        assert call(base, "GET", "/api/v1/cameras", headers=h)[0] == 401, h


def test_login_cookie_logout_and_roles(node):
    proc, base, _, _ = node
    h, cookie, body = login(base, "admin", ADMIN_PW)
    assert body["user"]["role"] == "admin"
    attrs = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs
    assert "Secure" not in attrs  # plain HTTP here; see the TLS test
    assert call(base, "GET", "/api/v1/me", headers=h)[2]["user"]["name"] == "admin"
    assert call(base, "GET", "/metrics", headers=h)[0] == 200
    # A viewer: no user management, no metrics.
    assert call(base, "POST", "/api/v1/users", {"name": "vera", "password": "vera password"}, h)[0] == 201
    vh, _, _ = login(base, "vera", "vera password")
    assert call(base, "GET", "/api/v1/users", headers=vh)[0] == 403
    assert call(base, "GET", "/metrics", headers=vh)[0] == 403
    assert call(base, "DELETE", "/api/v1/users/admin", headers=vh)[0] == 403
    # Validation errors name the field.
    status, _, err = call(base, "POST", "/api/v1/users", {"name": "x y", "password": "long enough"}, h)
    assert status == 400 and err["error"]["message"].startswith("name")
    status, _, err = call(base, "POST", "/api/v1/users", {"name": "xy", "password": "short"}, h)
    assert status == 400 and err["error"]["message"].startswith("password")
    status, _, err = call(base, "PUT", "/api/v1/users/vera", {"role": "emperor"}, h)
    assert status == 400 and err["error"]["message"].startswith("role")
    assert call(base, "POST", "/api/v1/users", {"name": "vera", "password": "vera password"}, h)[0] == 409
    assert call(base, "DELETE", "/api/v1/users/admin", headers=h)[0] == 409  # the last admin stays
    # The user changes their own password (the old one is needed).
    assert call(base, "PUT", "/api/v1/me/password", {"old_password": "nope nope", "new_password": "vera pw 2"},
                vh)[0] == 400
    status, hdrs, _ = call(base, "PUT", "/api/v1/me/password",
                           {"old_password": "vera password", "new_password": "vera pw 2"}, vh)
    assert status == 200
    vh = {"Cookie": session_cookie(hdrs).split(";")[0]}
    assert call(base, "GET", "/api/v1/me", headers=vh)[0] == 200
    assert call(base, "GET", "/api/v1/me", headers=basic("vera", "vera pw 2"))[0] == 200
    # Logout ends the session for good.
    assert call(base, "POST", "/api/v1/logout", headers=h)[0] == 200
    assert call(base, "GET", "/api/v1/me", headers=h)[0] == 401
    # The audit log saw it all, and never a password.
    h, _, _ = login(base, "admin", ADMIN_PW)
    status, _, audit = call(base, "GET", "/api/v1/audit?limit=100", headers=h)
    assert status == 200
    actions = [e["action"] for e in audit["entries"]]
    for a in ("login.success", "logout", "user.create", "user.password", "user.password.failure"):
        assert a in actions, (a, actions)
    page = call(base, "GET", "/api/v1/audit?limit=2", headers=h)[2]
    older = call(base, "GET", f"/api/v1/audit?limit=2&before={page['next_before']}", headers=h)[2]
    assert older["entries"][0]["id"] < page["entries"][-1]["id"]
    assert call(base, "GET", "/api/v1/audit?limit=x", headers=h)[0] == 400
    # Escapes are decoded once, and an escaped '&' does not split parameters.
    assert call(base, "GET", "/api/v1/audit?limit=%2532", headers=h)[0] == 400
    assert call(base, "GET", "/api/v1/audit?limit=1%26offset=0", headers=h)[0] == 400
    assert len(call(base, "GET", "/api/v1/audit?offset=1&limit=%31", headers=h)[2]["entries"]) == 1
    text = json.dumps(audit) + proc.output()
    for secret in (ADMIN_PW, "vera password", "vera pw 2", "s3cr3t"):
        assert secret not in text, secret


def test_tokens_work_and_revoked_tokens_do_not(node):
    _, base, _, _ = node
    h = basic("admin", ADMIN_PW)
    status, _, t = call(base, "POST", "/api/v1/tokens", {"name": "backup"}, h)
    assert status == 201 and t["token"].startswith("vgt_")
    bearer = {"Authorization": "Bearer " + t["token"]}
    assert call(base, "GET", "/api/v1/cameras", headers=bearer)[0] == 200
    listed = call(base, "GET", "/api/v1/tokens", headers=bearer)[2]["tokens"]
    assert [x["name"] for x in listed] == ["backup"] and "token" not in listed[0]
    assert listed[0]["last_used"] is not None
    assert call(base, "DELETE", f"/api/v1/tokens/{t['id']}", headers=h)[0] == 200
    status, hdrs, _ = call(base, "GET", "/api/v1/cameras", headers=bearer)
    assert status == 401 and "invalid_token" in hdrs["WWW-Authenticate"]
    assert call(base, "DELETE", f"/api/v1/tokens/{t['id']}", headers=h)[0] == 404


def test_lockout_after_failures(node):
    _, base, _, _ = node
    h = basic("admin", ADMIN_PW)
    assert call(base, "POST", "/api/v1/users", {"name": "lou", "password": "lou password"}, h)[0] == 201
    for _ in range(4):
        assert call(base, "POST", "/api/v1/login", {"username": "lou", "password": "wrong guess"})[0] == 401
    status, hdrs, err = call(base, "POST", "/api/v1/login", {"username": "lou", "password": "lou password"})
    assert status == 429 and err["error"]["code"] == "locked_out"
    assert 0 < int(hdrs["Retry-After"]) <= 60
    # Basic is limited the same way; other users are not affected.
    assert call(base, "GET", "/api/v1/me", headers=basic("lou", "lou password"))[0] == 429
    assert call(base, "GET", "/api/v1/me", headers=h)[0] == 200
    audit = call(base, "GET", "/api/v1/audit", headers=h)[2]["entries"]
    assert any(e["action"] == "login.failure" and e["user"] == "lou" and e["peer"] for e in audit)
    assert any(e["action"] == "login.locked" for e in audit)


def test_viewer_sees_only_permitted_cameras(node):
    _, base, _, _ = node
    h = basic("admin", ADMIN_PW)
    assert call(base, "POST", "/api/v1/users", {"name": "vic", "password": "vic password", "role": "viewer",
                                                "permissions": {"door": ["live"]}}, h)[0] == 201
    vh = basic("vic", "vic password")
    ids = [c["id"] for c in call(base, "GET", "/api/v1/cameras", headers=vh)[2]["cameras"]]
    assert ids == ["door"]
    status, _, cam = call(base, "GET", "/api/v1/cameras/door", headers=vh)
    assert status == 200 and "s3cr3t" not in json.dumps(cam)
    status, _, err = call(base, "GET", "/api/v1/cameras/yard", headers=vh)
    assert status == 404 and err["error"]["code"] == "not_found"
    # Permissions on "*" open every camera; an admin sees all anyway.
    assert call(base, "PUT", "/api/v1/users/vic", {"permissions": {"*": ["live"]}}, h)[0] == 200
    assert len(call(base, "GET", "/api/v1/cameras", headers=vh)[2]["cameras"]) == 2
    assert len(call(base, "GET", "/api/v1/cameras", headers=h)[2]["cameras"]) == 2


def test_rtsp_restream_uses_database_users(node, start_process):
    _, base, rtsp, _ = node
    h = basic("admin", ADMIN_PW)
    assert call(base, "POST", "/api/v1/users", {"name": "watcher", "password": "watch password",
                                                "permissions": {"pub": ["live"]}}, h)[0] == 201
    assert call(base, "POST", "/api/v1/users", {"name": "other", "password": "other password"}, h)[0] == 201
    # Publishing needs an operator or admin.
    pub = start_process(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                         "testsrc=size=320x240:rate=25", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                         "-pix_fmt", "yuv420p", "-t", "60", "-rtsp_transport", "tcp", "-f", "rtsp",
                         f"rtsp://admin:{ADMIN_PW.replace(' ', '%20')}@127.0.0.1:{rtsp}/pub"], "publisher")
    wait_for(lambda: any(c["id"] == "pub" and c["state"] == "online"
                         for c in call(base, "GET", "/api/v1/cameras", headers=h)[2]["cameras"]),
             30, what="the published camera")

    def probe(userinfo):
        r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json",
                            f"rtsp://{userinfo}127.0.0.1:{rtsp}/pub"], capture_output=True,
                           timeout=30 * SLOW)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    rc, out, err = probe("watcher:watch%20password@")
    assert rc == 0, err
    assert json.loads(out)["streams"][0]["codec_name"] == "h264"
    rc, _, err = probe("watcher:wrong%20password@")
    assert rc != 0 and "401" in err, err
    rc, _, err = probe("")
    assert rc != 0 and "401" in err, err
    rc, _, err = probe("other:other%20password@")  # no permission on the path: as if absent
    assert rc != 0 and "404" in err, err
    assert pub.alive()


def test_first_start_prints_admin_password_once(vigil_node, tmp_path, monkeypatch):
    monkeypatch.delenv("VIGIL_ADMIN_PASSWORD", raising=False)
    cfg = {"auth": {"enabled": True, "secret_key_file": str(tmp_path / "k" / "secret.key")},
           "database": {"path": str(tmp_path / "first.db")}}
    proc, http, _ = vigil_node(cfg)
    base = f"http://127.0.0.1:{http}"
    m = re.search(r'created user "admin" with password (\S+)', proc.output())
    assert m, proc.output()
    password = m.group(1)
    assert len(password) >= 20
    assert call(base, "GET", "/api/v1/me", headers=basic("admin", password))[0] == 200
    # The node key was created, readable by its owner only.
    assert (os.stat(tmp_path / "k" / "secret.key").st_mode & 0o777) == 0o600
    assert proc.stop() == 0
    # A second start keeps the admin and prints no password.
    proc2, http2, _ = vigil_node(cfg)
    assert "created user" not in proc2.output()
    assert call(f"http://127.0.0.1:{http2}", "GET", "/api/v1/me", headers=basic("admin", password))[0] == 200


def test_tls(vigil_node, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_ADMIN_PASSWORD", ADMIN_PW)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    cfg = {"auth": dict(AUTH, secret_key_file=str(tmp_path / "secret.key")),
           "database": {"path": str(tmp_path / "tls.db")},
           "http": {"port": port, "bind": "127.0.0.1", "tls_cert": str(cert), "tls_key": str(key)}}
    vigil_node(cfg, wait=False)
    base = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=str(cert))
    wait_for(lambda: call(base, "GET", "/api/v1/health", context=ctx)[0] == 200, 20, what="HTTPS")
    assert call(base, "GET", "/api/v1/cameras", context=ctx)[0] == 401
    h, cookie, _ = login(base, "admin", ADMIN_PW, context=ctx)
    assert "Secure" in [a.strip() for a in cookie.split(";")]
    assert call(base, "GET", "/api/v1/me", headers=h, context=ctx)[0] == 200
    # An untrusting client fails the handshake; plain HTTP gets no API answer.
    with pytest.raises(urllib.error.URLError):
        call(base, "GET", "/api/v1/health", context=ssl.create_default_context())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        assert b'"status"' not in data
