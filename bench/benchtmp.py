"""The benchmarks' scratch directory, removed when the script ends.

A benchmark writes recordings, databases and logs into a directory of its
own; left behind after every run they fill /tmp (51 GB once). make_tmpdir
creates it and removes it when the interpreter exits: at the end, after an
exception, after Ctrl-C (KeyboardInterrupt) and after SIGTERM (turned into
SystemExit here so that the same clean-up runs). keep=True (the scripts'
--keep) leaves it and says where it is.
"""
import atexit
import shutil
import signal
import sys
import tempfile


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def make_tmpdir(prefix, keep=False, parent=None):
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    if keep:
        atexit.register(lambda: print(f"# kept {path}", file=sys.stderr))
        return path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return path


def add_keep_option(parser):
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory (recordings, databases, logs) after the run")
