"""Black-box tests of GET /api/v1/system/logs: the recent lines of vigil's
process log over HTTP (admins only), with a camera that cannot be reached
provoking a warning that names its reason, and the filters (level, module,
since as a sequence number or a time, limit)."""
import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import SLOW, wait_for

ADMIN_PW = "admin password 1"
AUTH = {"enabled": True, "argon2_t_cost": 1, "argon2_m_kib": 4096}


def call(base, path, headers=None, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ADMIN = basic("admin", ADMIN_PW)


@pytest.fixture
def node(vigil_node, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_ADMIN_PASSWORD", ADMIN_PW)
    cfg = {"auth": dict(AUTH, secret_key_file=str(tmp_path / "secret.key")),
           "database": {"path": str(tmp_path / "vigil.db")},
           "log_level": "debug",
           # Port 1 refuses connections: the camera goes offline with its reason logged.
           "cameras": [{"id": "door", "url": "rtsp://cam:s3cr3t-pw@127.0.0.1:1/live", "backoff_min_ms": 60000,
                        "backoff_max_ms": 60000}]}
    proc, http, _ = vigil_node(cfg)
    base = f"http://127.0.0.1:{http}"
    for name, role in (("olga", "operator"), ("vera", "viewer")):
        status, _ = call(base, "/api/v1/users", ADMIN, "POST", {"name": name, "password": f"{name} password",
                                                                "role": role})
        assert status == 201
    return proc, base


def logs(base, query="", headers=ADMIN):
    status, body = call(base, "/api/v1/system/logs" + (f"?{query}" if query else ""), headers)
    assert status == 200, body
    return body


def test_admin_sees_the_camera_failure_and_others_are_refused(node):
    proc, base = node
    offline = lambda: [l for l in logs(base, "module=camera")["lines"]
                       if l.get("id") == "door" and "offline" in l["message"]]
    assert wait_for(offline, 15 * SLOW, what="the camera's offline line")
    line = offline()[0]
    assert line["level"] == "warn"
    assert "refused" in line["message"].lower(), line
    assert line["time"].endswith("Z") and line["seq"] >= 1
    body = logs(base)
    assert body["capacity"] == 2000 and body["log_level"] == "debug"
    assert body["last_seq"] >= body["lines"][-1]["seq"]
    # The same line is in vigil's stderr; credentials are in neither.
    assert "offline" in proc.output()
    assert "s3cr3t-pw" not in json.dumps(body) and "s3cr3t-pw" not in proc.output()
    # Admins only: operators and viewers are refused, anonymous callers asked to log in.
    for user in ("olga", "vera"):
        status, err = call(base, "/api/v1/system/logs", basic(user, f"{user} password"))
        assert status == 403, (user, err)
        assert err["error"]["code"] == "forbidden"
    assert call(base, "/api/v1/system/logs")[0] == 401


def test_filters(node):
    _, base = node
    assert wait_for(lambda: any(l["level"] == "warn" for l in logs(base)["lines"]), 15 * SLOW,
                    what="a warning")
    everything = logs(base, "limit=2000")["lines"]
    seqs = [l["seq"] for l in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert {l["level"] for l in everything} >= {"info", "warn"}
    # level is a minimum severity.
    warn = logs(base, "level=warn&limit=2000")["lines"]
    assert warn and all(l["level"] in ("warn", "error") for l in warn)
    assert len(warn) < len(everything)
    assert all(l["level"] == "error" for l in logs(base, "level=error")["lines"])
    # module is exact.
    cam = logs(base, "module=camera&limit=2000")["lines"]
    assert cam and all(l["module"] == "camera" for l in cam)
    assert logs(base, "module=no-such-module")["lines"] == []
    # limit keeps the newest lines, oldest first.
    two = logs(base, "limit=2")["lines"]
    assert len(two) == 2 and two[0]["seq"] < two[1]["seq"]
    # since as a sequence number: only newer lines, such as those of a
    # camera added after the cursor.
    cursor = logs(base)["last_seq"]
    assert all(l["seq"] > cursor for l in logs(base, f"since={cursor}")["lines"])
    status, body = call(base, "/api/v1/cameras", ADMIN, "POST",
                        {"id": "yard", "url": "rtsp://127.0.0.1:1/x", "backoff_min_ms": 60000,
                         "backoff_max_ms": 60000})
    assert status == 201, body
    newer = lambda: logs(base, f"since={cursor}&module=camera")["lines"]
    assert wait_for(lambda: any(l.get("id") == "yard" and "offline" in l["message"] for l in newer()), 10 * SLOW,
                    what="the new camera's failure logged")
    assert all(l["seq"] > cursor and l["module"] == "camera" for l in newer())
    assert not any(l.get("id") == "door" and l["seq"] <= cursor for l in newer())
    # since as a time: the future has no lines, the past has them all.
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert logs(base, "since=" + urllib.parse.quote(future))["lines"] == []
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    assert len(logs(base, "limit=2000&since=" + urllib.parse.quote(past))["lines"]) >= len(everything)


def test_bad_queries_name_the_parameter(node):
    _, base = node
    for query, field in (("level=loud", "level"), ("limit=0", "limit"), ("limit=2001", "limit"),
                         ("limit=x", "limit"), ("since=yesterday", "since"), ("since=-5", "since"),
                         ("module=" + "m" * 40, "module")):
        status, err = call(base, "/api/v1/system/logs?" + query, ADMIN)
        assert status == 400, (query, err)
        assert err["error"]["message"].startswith(field), (query, err)
