"""Notification secrets follow the rules of camera credentials, seen from
outside: the MQTT password and webhook secrets may be kept sealed in the
configuration file (`vigil seal`, under the node key), the node opens them
(a real mosquitto broker that requires the password accepts it, a webhook
receiver verifies signatures made with the opened secret), and neither the
plain nor the sealed text shows in the exported configuration, the log
(at debug level) or GET /api/v1/system/logs. The export says
"password_set"/"secret_set" instead, and importing it again works. A sealed
value under another key stops the start with an error that names the
member, not its value.
"""
import json
import os
import subprocess
import threading

import pytest

from conftest import free_port, http_get, http_get_json, wait_for
from test_notify import HAVE_MOSQUITTO, Receiver, Subscriber, manual_event, node_config, request, start_vigil, \
    stop_vigil

MQTT_PASSWORD = "mqtt-Pa55-word-7f3a"
HOOK_SECRET = "hook-secret-91c2"
PLAIN_HOOK_SECRET = "plain-hook-secret-5d0e"


def seal(vigil_bin, key_file, secret):
    out = subprocess.run([vigil_bin, "seal", "--key-file", str(key_file)], input=secret + "\n",
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    sealed = out.stdout.strip()
    assert sealed.startswith("sb1:") and secret not in sealed
    return sealed


class AuthBroker:
    """mosquitto that refuses anonymous clients and knows one user."""

    def __init__(self, tmp_path, port):
        pw = tmp_path / "mosquitto.passwd"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "vigil", MQTT_PASSWORD], check=True,
                       capture_output=True)
        conf = tmp_path / "mosquitto-auth.conf"
        # Started as root, mosquitto drops to its own user, which cannot read
        # the test's private directory: it stays root then.
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
                        f"persistence false\n{user}")
        self.log = open(tmp_path / "mosquitto-auth.log", "wb")
        self.p = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", "vigil",
                                         "-P", MQTT_PASSWORD, "-t", "probe", "-m", "x"],
                                        capture_output=True).returncode == 0, 10, what="mosquitto")

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        self.log.close()


class AuthSubscriber(Subscriber):
    def __init__(self, port):
        self.p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", "vigil", "-P",
                                   MQTT_PASSWORD, "-v", "-t", "#", "-q", "1"], stdout=subprocess.PIPE, text=True)
        self.messages = []
        threading.Thread(target=self._read, daemon=True).start()


@pytest.mark.skipif(not HAVE_MOSQUITTO, reason="mosquitto not installed")
@pytest.mark.parametrize("sealed_password", [True, False], ids=["sealed", "plain"])
def test_secrets_used_never_shown(vigil_bin, tmp_path, sealed_password):
    key_file = tmp_path / "keys" / "secret.key"
    password = seal(vigil_bin, key_file, MQTT_PASSWORD) if sealed_password else MQTT_PASSWORD
    sealed_secret = seal(vigil_bin, key_file, HOOK_SECRET)
    mqtt_port, http_port = free_port(), free_port()
    broker = AuthBroker(tmp_path, mqtt_port)
    sub = AuthSubscriber(mqtt_port)
    rx = Receiver(HOOK_SECRET)
    rx_plain = Receiver(PLAIN_HOOK_SECRET)
    p = None
    try:
        cfg = node_config(tmp_path, http_port, log_level="debug",
                          mqtt={"host": "127.0.0.1", "port": mqtt_port, "username": "vigil", "password": password,
                                "client_id": "vigil-secrets", "reconnect_min_ms": 200, "reconnect_max_ms": 500},
                          webhooks=[{"id": "sealed", "url": f"http://127.0.0.1:{rx.port}/hook", "secret": sealed_secret},
                                    {"id": "plain", "url": f"http://127.0.0.1:{rx_plain.port}/hook",
                                     "secret": PLAIN_HOOK_SECRET}])
        cfg["auth"] = {"enabled": False, "secret_key_file": str(key_file)}
        p = start_vigil(vigil_bin, tmp_path, cfg)
        # The broker accepted the (opened) password.
        wait_for(lambda: sub.last("vigil/available") == "online", 15, what="vigil/available online")
        ev = manual_event(http_port, duration_s=1)
        wait_for(lambda: [e for e in sub.events() if e["after"]["id"] == ev["id"]], 15, what="the event over MQTT")
        # Both endpoints got signatures made with the plain secret.
        wait_for(lambda: rx.accepted() and rx_plain.accepted(), 15, what="both webhooks")
        assert all(r[3] for r in rx.requests + rx_plain.requests), "every signature verifies"

        # The export: no secret, plain or sealed; markers instead.
        st, _, body = http_get(f"http://127.0.0.1:{http_port}/api/v1/config")
        assert st == 200
        text = body.decode()
        for secret in (MQTT_PASSWORD, HOOK_SECRET, PLAIN_HOOK_SECRET, sealed_secret, password):
            assert secret not in text
        doc = json.loads(text)
        assert "password" not in doc["mqtt"] and doc["mqtt"]["password_set"] is True
        assert doc["mqtt"]["username"] == "vigil"
        hooks = {h["id"]: h for h in doc["webhooks"]}
        for h in hooks.values():
            assert "secret" not in h and h["secret_set"] is True
        # The export imports as it is (only cameras are imported; the
        # notification settings stay those of the file, secrets included).
        st, res = request("POST", f"http://127.0.0.1:{http_port}/api/v1/config", doc)
        assert st == 200, res
        assert res["skipped"] == ["cam1"]
        ev2 = manual_event(http_port, duration_s=1)
        wait_for(lambda: [e for e in sub.events() if e["after"]["id"] == ev2["id"]], 15, what="MQTT after import")
        wait_for(lambda: any(json.loads(r[1])["after"]["id"] == ev2["id"] for r in rx.accepted()), 15,
                 what="webhook after import")
        assert all(r[3] for r in rx.requests)

        # The logs, at debug level: in memory and on stderr.
        logs = json.dumps(http_get_json(f"http://127.0.0.1:{http_port}/api/v1/system/logs?limit=2000"))
        assert "mqtt" in logs
        for secret in (MQTT_PASSWORD, HOOK_SECRET, PLAIN_HOOK_SECRET, sealed_secret, password):
            assert secret not in logs
    finally:
        if p:
            assert stop_vigil(p) == 0
        sub.stop()
        rx.stop()
        rx_plain.stop()
        broker.stop()
    out = (tmp_path / "vigil.log").read_text()
    assert "connected to 127.0.0.1" in out
    for secret in (MQTT_PASSWORD, HOOK_SECRET, PLAIN_HOOK_SECRET, sealed_secret, password):
        assert secret not in out


def test_secret_sealed_under_another_key_stops_the_start(vigil_bin, tmp_path):
    sealed = seal(vigil_bin, tmp_path / "other.key", MQTT_PASSWORD)
    http_port = free_port()
    cfg = node_config(tmp_path, http_port, mqtt={"host": "127.0.0.1", "port": free_port(), "password": sealed})
    cfg["auth"] = {"enabled": False, "secret_key_file": str(tmp_path / "node.key")}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run([vigil_bin, "run", "-c", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    log = out.stdout + out.stderr
    assert "mqtt.password does not open under the node key" in log, log[-2000:]
    assert "another key" in log
    assert MQTT_PASSWORD not in log and sealed not in log
