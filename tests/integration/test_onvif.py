"""ONVIF end to end: camsim's simulated ONVIF devices checked against an
independent client (npm "onvif"), then vigil's own client against them:
WS-Discovery over loopback multicast, probing a device, a camera added by
its ONVIF address (its stream found through the device), PTZ through the
API reaching the device, and the device's events arriving in vigil as
triggers that become events."""
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import SLOW, ffprobe_streams, free_port, free_port_run, http_get, http_get_json, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_CLIENT = os.path.join(HERE, "..", "onvif", "check_device.js")
NODE_MODULES = os.path.join(HERE, "..", "onvif", "node_modules", "onvif")


@pytest.fixture
def onvif_camsim(vigil_bin, start_process):
    """Two camsim cameras that are ONVIF devices (user admin/secret, a clock
    one hour off, a motion event every second)."""
    rtsp_port, onvif_port = free_port(), free_port_run(2)
    sim = start_process([vigil_bin, "camsim", "-p", str(rtsp_port), "-n", "2", "--size", "320x240", "--fps", "10",
                         "--duration-s", "2", "--onvif-port", str(onvif_port), "--onvif-user", "admin:secret",
                         "--onvif-clock-offset", "3600", "--onvif-events", "1", "--discovery-if", "127.0.0.1"],
                        "camsim")
    sim.wait_output("camsim: serving", 120)
    return {"rtsp": rtsp_port, "onvif": onvif_port}


def post_json(url, body, timeout=10):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_camsim_device_with_an_independent_client(onvif_camsim):
    if not os.path.isdir(NODE_MODULES):
        pytest.skip("tests/onvif/node_modules is missing: run scripts/setup-models.sh")
    port = onvif_camsim["onvif"]
    out = subprocess.run(["node", NODE_CLIENT, "127.0.0.1", str(port), "admin", "secret"], capture_output=True,
                         text=True, timeout=60)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in seen, seen
    assert f"http://127.0.0.1:{port}/onvif/device_service" in seen["discovered"]
    assert f"http://127.0.0.1:{port + 1}/onvif/device_service" in seen["discovered"]
    assert seen["media2"] is True and seen["profiles"] == ["main"]
    assert seen["manufacturer"] == "vigil" and seen["model"] == "camsim"
    assert seen["stream_uri"] == f"rtsp://127.0.0.1:{onvif_camsim['rtsp']}/cam1"
    assert seen["position"] == {"x": 0.5, "y": -0.25, "zoom": 0.3}
    assert seen["event_topics"] and all("Motion" in t for t in seen["event_topics"])
    # Wrong credentials are refused.
    out = subprocess.run(["node", NODE_CLIENT, "127.0.0.1", str(port), "admin", "nope"], capture_output=True,
                         text=True, timeout=60)
    assert "error" in json.loads(out.stdout.strip().splitlines()[-1])


def test_vigil_discovers_probes_adds_and_moves(onvif_camsim, vigil_node):
    port = onvif_camsim["onvif"]
    device = f"http://127.0.0.1:{port}/onvif/device_service"
    proc, http, rtsp = vigil_node({
        "onvif": {"discovery_interface": "127.0.0.1"},
        "cameras": [{"id": "door", "type": "onvif", "url": f"http://admin:secret@127.0.0.1:{port}/onvif/device_service"},
                    {"id": "bad", "type": "onvif", "url": f"http://admin:wrong@127.0.0.1:{port + 1}/onvif/device_service",
                     "onvif_events": False, "backoff_min_ms": 200, "backoff_max_ms": 1000}]})
    api = f"http://127.0.0.1:{http}/api/v1"

    # Discovery finds both devices.
    found = http_get_json(f"{api}/onvif/discover?timeout_ms=3000", timeout=15)["devices"]
    urls = [d["url"] for d in found]
    assert device in urls and f"http://127.0.0.1:{port + 1}/onvif/device_service" in urls, found
    assert any(d["name"] == "camsim-cam1" for d in found)

    # Probing fills in what adding a camera needs; the token uses the
    # device's clock (one hour off) and works.
    status, info = post_json(f"{api}/onvif/probe", {"url": device, "username": "admin", "password": "secret"})
    assert status == 200, info
    assert info["device"]["manufacturer"] == "vigil" and abs(info["clock_offset_s"] - 3600) <= 5
    assert info["services"] == {"media": True, "media2": True, "ptz": True, "events": True}
    p = info["profiles"][0]
    assert (p["token"], p["encoding"], p["width"], p["height"], p["ptz"]) == ("main", "H264", 320, 240, True)
    assert p["stream_uri"] == f"rtsp://127.0.0.1:{onvif_camsim['rtsp']}/cam1"
    status, err = post_json(f"{api}/onvif/probe", {"url": device, "username": "admin", "password": "nope"})
    assert status == 401 and err["error"]["code"] == "device_auth"
    status, err = post_json(f"{api}/onvif/probe", {"username": "admin"})
    assert status == 400 and "url" in err["error"]["message"]

    # The camera added by its ONVIF address streams, and is restreamed.
    cam = wait_for(lambda: (lambda c: c if c["state"] == "online" else None)(http_get_json(f"{api}/cameras/door")),
                   30, what="the ONVIF camera online")
    assert cam["type"] == "onvif" and cam["tracks"][0]["codec"] == "H264" and cam["tracks"][0]["width"] == 320
    assert "secret" not in json.dumps(cam)
    streams = ffprobe_streams(f"rtsp://127.0.0.1:{rtsp}/door")
    assert streams[0]["codec_name"] == "h264" and streams[0]["width"] == 320

    # A camera with wrong credentials stays offline and says why.
    bad = wait_for(lambda: (lambda c: c if c["last_error"] else None)(http_get_json(f"{api}/cameras/bad")), 20,
                   what="the bad camera's error")
    assert bad["state"] != "online" and "ONVIF" in bad["last_error"] and "credentials" in bad["last_error"]

    # PTZ through the API reaches the device.
    assert post_json(f"{api}/cameras/door/ptz", {"action": "absolute", "pan": 0.5, "tilt": -0.25, "zoom": 0.3}) == \
        (200, {"ok": True})
    ptz = http_get_json(f"{api}/cameras/door/ptz")
    assert ptz["position"] == {"pan": 0.5, "tilt": -0.25, "zoom": 0.3}
    status, saved = post_json(f"{api}/cameras/door/ptz", {"action": "set_preset", "preset": "gate"})
    assert status == 200 and saved["preset"]
    assert post_json(f"{api}/cameras/door/ptz", {"action": "continuous", "pan": 1.0, "timeout_ms": 400})[0] == 200
    time.sleep(0.8)
    moved = http_get_json(f"{api}/cameras/door/ptz")["position"]["pan"]
    assert 0.6 < moved <= 0.75, moved  # full speed for 0.4 s: +0.2
    assert post_json(f"{api}/cameras/door/ptz", {"action": "goto_preset", "preset": saved["preset"]})[0] == 200
    ptz = http_get_json(f"{api}/cameras/door/ptz")
    assert ptz["position"]["pan"] == 0.5 and [p["name"] for p in ptz["presets"]] == ["gate"]
    assert post_json(f"{api}/cameras/door/ptz", {"action": "spin"})[0] == 400
    assert post_json(f"{api}/cameras/door/ptz", {"action": "absolute", "pan": 3})[0] == 400
    assert post_json(f"{api}/cameras/nowhere/ptz", {"action": "stop"})[0] == 404

    # The device's motion events arrive in vigil.
    ev = wait_for(lambda: (lambda e: e if e["events"] >= 2 else None)(http_get_json(f"{api}/cameras/door/onvif/events")),
                  20, what="ONVIF events")
    assert ev["subscribed"] and "Motion" in ev["last"]["topic"] and ev["last"]["name"] == "IsMotion"
    _, _, metrics = http_get(f"http://127.0.0.1:{http}/metrics")
    assert 'vigil_onvif_events_total{camera="door"}' in metrics.decode()
    # ... and become vigil events (sensor "onvif", labelled by the topic).
    evs = wait_for(lambda: http_get_json(f"{api}/events?camera=door")["events"], 20, what="events from ONVIF")
    assert evs[0]["kind"] == "onvif" and evs[0]["sensor"] == "onvif" and evs[0]["label"] == "motion", evs[0]
