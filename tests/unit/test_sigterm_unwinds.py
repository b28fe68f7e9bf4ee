"""SIGTERM unwinds a benchmark, a chaos run or a test run like Ctrl-C, and then the process ends."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

PROGRAM = textwrap.dedent(
    """
    import threading, time
    import app.processes as processes

    processes.SIGTERM_GRACE_SECONDS = 1.0
    processes.stop_like_ctrl_c_on_sigterm()
    # A worker thread that is not a daemon and never ends, like a load generator still retrying.
    threading.Thread(target=lambda: time.sleep(3600)).start()
    try:
        print("ready", flush=True)
        time.sleep(3600)
    finally:
        print("cleaned up", flush=True)
    """
)


def test_sigterm_runs_the_cleanup_and_ends_the_process_despite_a_lingering_thread() -> None:
    child = subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        started = time.monotonic()
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=20)
        assert time.monotonic() - started < 15
    finally:
        child.kill()
    assert child.stdout.read().strip().endswith("cleaned up")
    assert code == 128 + signal.SIGTERM
