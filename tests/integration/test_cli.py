"""The vigil command line: help, version and configuration errors."""
import json
import subprocess


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=30, **kw)


def test_help_lists_commands(vigil_bin):
    r = run([vigil_bin, "--help"])
    assert r.returncode == 0
    for cmd in ("run", "camsim", "infer", "version"):
        assert cmd in r.stdout


def test_each_command_has_help(vigil_bin):
    for cmd in ("run", "camsim", "infer", "version"):
        r = run([vigil_bin, cmd, "--help"])
        assert r.returncode == 0, (cmd, r.stderr)
        assert "usage: vigil " + cmd in r.stdout


def test_version(vigil_bin):
    r = run([vigil_bin, "version"])
    assert r.returncode == 0
    assert r.stdout.startswith("vigil ")


def test_unknown_command_fails(vigil_bin):
    r = run([vigil_bin, "fly"])
    assert r.returncode == 2
    assert "unknown command" in r.stderr


def test_bad_config_names_field_and_reason(vigil_bin, tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"cameras": [{"id": "door", "url": "rtsp://10.0.0.1/"},
                                           {"id": "yard", "url": "rtsp://10.0.0.2/", "transport": "carrier-pigeon"}]}))
    r = run([vigil_bin, "run", "-c", str(cfg)])
    assert r.returncode == 1
    assert "cameras[1].transport" in r.stderr
    assert 'must be one of "tcp", "udp", "auto"' in r.stderr


def test_config_syntax_error_names_line(vigil_bin, tmp_path):
    cfg = tmp_path / "broken.json"
    cfg.write_text('{\n  "cameras": [\n    {"id": "door",}\n  ]\n}\n')
    r = run([vigil_bin, "run", "-c", str(cfg)])
    assert r.returncode == 1
    assert "broken.json:3:" in r.stderr


def test_duplicate_camera_id_rejected(vigil_bin, tmp_path):
    cfg = tmp_path / "dup.json"
    cfg.write_text(json.dumps({"cameras": [{"id": "door", "url": "rtsp://a/"}, {"id": "door", "url": "rtsp://b/"}]}))
    r = run([vigil_bin, "run", "-c", str(cfg)])
    assert r.returncode == 1
    assert "cameras[1].id" in r.stderr and "duplicate" in r.stderr


def test_check_accepts_valid_config(vigil_bin, tmp_path):
    cfg = tmp_path / "ok.json"
    cfg.write_text(json.dumps({"cameras": [{"id": "door", "url": "rtsp://user:pw@10.0.0.1/stream"}]}))
    r = run([vigil_bin, "run", "-c", str(cfg), "--check"])
    assert r.returncode == 0, r.stderr
    assert "1 cameras" in r.stdout
