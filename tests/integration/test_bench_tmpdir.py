"""bench/benchtmp.py: a benchmark's scratch directory goes when the script
ends, however it ends (normal exit, exception, Ctrl-C, SIGTERM), and stays
with --keep. Each case runs a small script in a child interpreter that
creates the directory, writes a file into it, and ends the given way."""
import os
import signal
import subprocess
import sys
import time

import pytest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")

SCRIPT = """
import os, sys, time
sys.path.insert(0, {bench!r})
from benchtmp import make_tmpdir
tmp = make_tmpdir("vigil-test-benchtmp-", keep={keep}, parent={parent!r})
open(os.path.join(tmp, "recording.mp4"), "wb").write(b"x" * 4096)
print(tmp, flush=True)
how = {how!r}
if how == "exception":
    raise RuntimeError("a failing benchmark")
if how == "interrupt":
    raise KeyboardInterrupt
if how == "wait":
    time.sleep(60)
"""


def run(tmp_path, how, keep=False, sig=None):
    code = SCRIPT.format(bench=BENCH, keep=keep, parent=str(tmp_path), how=how)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = p.stdout.readline().strip()
    assert path.startswith(str(tmp_path)), path
    if how == "wait":
        assert os.path.isdir(path)
    if sig:
        time.sleep(0.2)
        p.send_signal(sig)
    p.communicate(timeout=30)
    return path, p.returncode


@pytest.mark.parametrize("how", ["normal", "exception", "interrupt"])
def test_removed(tmp_path, how):
    path, rc = run(tmp_path, how)
    assert path and not os.path.exists(path)
    assert (rc == 0) == (how == "normal")


def test_removed_on_sigterm(tmp_path):
    path, rc = run(tmp_path, "wait", sig=signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM
    assert not os.path.exists(path)


def test_kept(tmp_path):
    path, rc = run(tmp_path, "exception", keep=True)
    assert os.path.exists(os.path.join(path, "recording.mp4"))
