"""Black-box tests of the camera configuration API with auth on: cameras
created, changed and deleted through the API apply at once (a camsim camera
comes online, its restream path appears and goes), persist across a
restart with their credentials sealed (never in answers, the log or the
database file in clear), and the configuration file's cameras stay
read-only.
"""
import base64
import json
import os
import socket
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, free_port, wait_for

ADMIN_PW = "admin password 1"
AUTH = {"enabled": True, "argon2_t_cost": 1, "argon2_m_kib": 4096, "max_failures": 20, "lockout_s": 60}
CAM_PW = "campw7731"  # the camsim camera's password: must never show


def call(base, method, path, body=None, headers=None):
    """One request; returns (status, headers, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20 * SLOW) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw) if raw else None
    except ValueError:
        return status, hdrs, raw.decode(errors="replace")


def login(base, user, password):
    status, hdrs, body = call(base, "POST", "/api/v1/login", {"username": user, "password": password})
    assert status == 200, body
    for v in hdrs.get_all("Set-Cookie") or []:
        if v.startswith("vigil_session="):
            return {"Cookie": v.split(";")[0]}
    pytest.fail("no session cookie")


def describe_status(rtsp_port, path):
    """The status code of an RTSP DESCRIBE of path on vigil's RTSP server, as admin."""
    cred = base64.b64encode(f"admin:{ADMIN_PW}".encode()).decode()
    with socket.create_connection(("127.0.0.1", rtsp_port), timeout=10 * SLOW) as s:
        s.sendall(f"DESCRIBE rtsp://127.0.0.1:{rtsp_port}/{path} RTSP/1.0\r\nCSeq: 1\r\n"
                  f"Accept: application/sdp\r\nAuthorization: Basic {cred}\r\n\r\n".encode())
        line = s.recv(4096).split(b"\r\n")[0].decode()
    return int(line.split()[1])


def start_camsim(start_process, vigil_bin):
    port = free_port()
    sim = start_process([vigil_bin, "camsim", "--bind", "127.0.0.1", "--port", str(port), "--cameras", "1",
                         "--size", "320x240", "--fps", "25", "--bitrate", "300k", "--gop", "25",
                         "--duration-s", "2", "--workers", "1", "--fault", f"cam1:auth=viewer:{CAM_PW}"],
                        "camsim")
    sim.wait_output("camsim: serving", 120)
    return port


@pytest.fixture
def node(vigil_node, vigil_bin, start_process, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_ADMIN_PASSWORD", ADMIN_PW)
    sim = start_camsim(start_process, vigil_bin)
    cfg = {"auth": dict(AUTH, secret_key_file=str(tmp_path / "secret.key")),
           "database": {"path": str(tmp_path / "vigil.db")},
           "cameras": [{"id": "filecam", "url": "rtsp://cam:filepw99@127.0.0.1:1/live",
                        "backoff_min_ms": 60000, "backoff_max_ms": 60000}]}
    proc, http, rtsp = vigil_node(cfg)
    return {"cfg": cfg, "proc": proc, "base": f"http://127.0.0.1:{http}", "rtsp": rtsp, "sim": sim,
            "tmp": tmp_path, "start": vigil_node}


def camera(base, h, cid):
    status, _, body = call(base, "GET", f"/api/v1/cameras/{cid}", headers=h)
    return body if status == 200 else None


def test_create_patch_restart_delete(node):
    base, rtsp, sim = node["base"], node["rtsp"], node["sim"]
    h = login(base, "admin", ADMIN_PW)
    url = f"rtsp://viewer:{CAM_PW}@127.0.0.1:{sim}/cam1"
    status, hdrs, body = call(base, "POST", "/api/v1/cameras", {"id": "yard", "url": url, "name": "Yard"}, h)
    assert status == 201, body
    assert hdrs["Location"] == "/api/v1/cameras/yard"
    assert body["url"] == f"rtsp://127.0.0.1:{sim}/cam1"
    wait_for(lambda: (camera(base, h, "yard") or {}).get("state") == "online", 30, what="yard online")
    cam = camera(base, h, "yard")
    assert cam["origin"] == "api" and cam["tracks"][0]["width"] == 320
    assert describe_status(rtsp, "yard") == 200
    # PATCH: the name changes, the camera keeps its credentials (it comes back online).
    status, _, body = call(base, "PATCH", "/api/v1/cameras/yard", {"name": "Back yard"}, h)
    assert status == 200 and body["name"] == "Back yard", body
    wait_for(lambda: (camera(base, h, "yard") or {}).get("state") == "online", 30, what="yard online again")
    assert camera(base, h, "yard")["name"] == "Back yard"
    # The credentials are in no answer.
    for path in ("/api/v1/cameras", "/api/v1/cameras/yard", "/api/v1/config", "/api/v1/system"):
        status, _, body = call(base, "GET", path, headers=h)
        assert status == 200, (path, body)
        assert CAM_PW not in json.dumps(body) and "filepw99" not in json.dumps(body), path

    # Restart: the API's camera is back, online, still without its password in answers.
    proc = node["proc"]
    assert proc.stop() == 0
    proc2, http, rtsp2 = node["start"](node["cfg"])
    base = f"http://127.0.0.1:{http}"
    h = login(base, "admin", ADMIN_PW)
    wait_for(lambda: (camera(base, h, "yard") or {}).get("state") == "online", 30, what="yard online after restart")
    assert camera(base, h, "yard")["name"] == "Back yard"
    assert CAM_PW not in json.dumps(call(base, "GET", "/api/v1/cameras", headers=h)[2])
    # Never logged, never in clear in the database.
    for p in (proc, proc2):
        assert CAM_PW not in p.output()
    for name in os.listdir(node["tmp"]):
        if name.startswith("vigil.db"):
            with open(node["tmp"] / name, "rb") as f:
                assert CAM_PW.encode() not in f.read(), name

    # DELETE: gone, and so is its restream path.
    status, _, _ = call(base, "DELETE", "/api/v1/cameras/yard", headers=h)
    assert status == 204
    assert call(base, "GET", "/api/v1/cameras/yard", headers=h)[0] == 404
    assert describe_status(rtsp2, "yard") == 404
    status, _, audit = call(base, "GET", "/api/v1/audit?limit=100", headers=h)
    actions = [row["action"] for row in audit["entries"]]
    for a in ("camera.create", "camera.patch", "camera.delete"):
        assert a in actions, actions


def test_rules_roles_validation_etag_pages(node):
    base = node["base"]
    h = login(base, "admin", ADMIN_PW)
    # The configuration file's camera is read-only through the API.
    for method in ("PUT", "PATCH", "DELETE"):
        status, _, body = call(base, method, "/api/v1/cameras/filecam", {"name": "x"}, h)
        assert status == 409, (method, body)
        assert "configuration file" in body["error"]["message"]
    # Validation errors name the field.
    status, _, body = call(base, "POST", "/api/v1/cameras", {"id": "bad", "url": "ftp://x"}, h)
    assert status == 400 and body["error"]["field"] == "url" and "url" in body["error"]["message"]
    status, _, body = call(base, "POST", "/api/v1/cameras", {"id": "a b", "url": "rtsp://x/"}, h)
    assert status == 400 and body["error"]["field"] == "id"
    status, _, body = call(base, "POST", "/api/v1/cameras",
                           {"id": "z", "url": "rtsp://x/", "analytics": {"tripwires": [{"name": 5}]}}, h)
    assert status == 400 and body["error"]["field"].startswith("analytics.tripwires[0]"), body
    # A viewer may not change cameras.
    assert call(base, "POST", "/api/v1/users", {"name": "vera", "password": "vera password"}, h)[0] == 201
    vh = login(base, "vera", "vera password")
    status, _, body = call(base, "POST", "/api/v1/cameras", {"id": "v1", "url": "rtsp://127.0.0.1:1/x"}, vh)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert call(base, "POST", "/api/v1/cameras/probe", {"url": "rtsp://127.0.0.1:1/x"}, vh)[0] == 403
    assert call(base, "GET", "/api/v1/config", headers=vh)[0] == 403
    # Pagination over several disabled cameras.
    for i in range(5):
        status, _, body = call(base, "POST", "/api/v1/cameras",
                               {"id": f"p{i}", "url": "rtsp://127.0.0.1:1/x", "enabled": False}, h)
        assert status == 201, body
    status, _, page = call(base, "GET", "/api/v1/cameras?limit=2&offset=1", headers=h)
    assert status == 200 and page["total"] == 6 and [c["id"] for c in page["cameras"]] == ["p0", "p1"]
    # ETag and 304 (disabled cameras do not change).
    call(base, "DELETE", "/api/v1/cameras/filecam", headers=h)
    status, hdrs, _ = call(base, "GET", "/api/v1/cameras?offset=1", headers=h)
    etag = hdrs["ETag"]
    status, hdrs2, body = call(base, "GET", "/api/v1/cameras?offset=1", headers=dict(h, **{"If-None-Match": etag}))
    assert status == 304 and hdrs2["ETag"] == etag and body is None
    call(base, "PATCH", "/api/v1/cameras/p3", {"name": "renamed"}, h)
    assert call(base, "GET", "/api/v1/cameras?offset=1", headers=dict(h, **{"If-None-Match": etag}))[0] == 200
    # Probe: a closed port is reported, quickly.
    status, _, body = call(base, "POST", "/api/v1/cameras/probe", {"url": "rtsp://127.0.0.1:1/x"}, h)
    assert status == 502 and "refused" in body["error"]["message"]


def test_probe_import_export(node):
    base, sim = node["base"], node["sim"]
    h = login(base, "admin", ADMIN_PW)
    status, _, body = call(base, "POST", "/api/v1/cameras/probe",
                           {"url": f"rtsp://viewer:{CAM_PW}@127.0.0.1:{sim}/cam1"}, h)
    assert status == 200, body
    assert body["video"]["codec"] == "H264" and body["video"]["width"] == 320 and body["video"]["height"] == 240
    assert abs(body["video"]["fps"] - 25) < 0.5
    assert CAM_PW not in json.dumps(body)
    # Export, then import it back: the file's camera is skipped, ours are created.
    status, _, doc = call(base, "GET", "/api/v1/config", headers=h)
    assert status == 200 and [c["id"] for c in doc["cameras"]] == ["filecam"]
    assert "filepw99" not in json.dumps(doc) and "secret_key_file" not in json.dumps(doc)
    doc["cameras"].append({"id": "imp", "url": "rtsp://u:imppw@127.0.0.1:1/x", "enabled": False,
                           "analytics": {"motion": {}}})
    status, _, body = call(base, "POST", "/api/v1/config", doc, h)
    assert status == 200, body
    assert body == {"created": ["imp"], "updated": [], "skipped": ["filecam"]}
    status, _, body = call(base, "GET", "/api/v1/cameras/imp/analytics", headers=h)
    assert status == 200 and body["analytics"] == {"motion": {}}
    status, _, body = call(base, "PUT", "/api/v1/cameras/imp/analytics", {"zones": 3}, h)
    assert status == 400 and body["error"]["field"].startswith("analytics.zones")
    status, _, sysinfo = call(base, "GET", "/api/v1/system", headers=h)
    assert status == 200 and sysinfo["cameras"]["total"] == 2 and sysinfo["process"]["resident_bytes"] > 0


def test_slow_probe_does_not_stall_the_api(node):
    """A probe of a camera that accepts the connection and never answers
    waits out its timeout on a thread of its own: meanwhile the rest of the
    API answers at once."""
    import threading
    import time
    base = node["base"]
    h = login(base, "admin", ADMIN_PW)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog; nothing is ever read or written
    port = silent.getsockname()[1]
    result = {}

    def probe():
        t0 = time.monotonic()
        result["status"] = call(base, "POST", "/api/v1/cameras/probe", {"url": f"rtsp://127.0.0.1:{port}/x"}, h)[0]
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=probe)
    t.start()
    time.sleep(0.5)
    try:
        worst = 0.0
        while t.is_alive():
            t0 = time.monotonic()
            status, _, body = call(base, "GET", "/api/v1/cameras", headers=h)
            worst = max(worst, time.monotonic() - t0)
            assert status == 200, body
            time.sleep(0.2)
        t.join()
    finally:
        silent.close()
    assert result["status"] in (502, 504) and result["took"] >= 2, result
    assert worst < 1.0 * SLOW, worst
