"""Supervising promobridge's own processes (web, worker, relay, simulator) from Python.

Used by `promobridge demo` and `promobridge run`, the end-to-end tests and the benchmarks: every
process is started with the same `promobridge …` command the Procfile and docker-compose use, in
its own process group (so its children can be signalled), logging to a file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

PROMOBRIDGE = [sys.executable, "-m", "app.cli"]
STOP_GRACE_SECONDS = 10.0
# After a SIGTERM: time to stop every started process (several stacks, each up to STOP_GRACE_SECONDS).
SIGTERM_GRACE_SECONDS = 90.0


def stop_like_ctrl_c_on_sigterm() -> None:
    """Make SIGTERM (a CI timeout, `kill`) unwind like Ctrl-C, so `finally` blocks stop the stack.

    Without this the interpreter dies at once and the processes a benchmark, a chaos run or a test
    started live on as orphans, on the shared broker or on private servers nobody stops.
    """
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    # Unwinding stops what the run started; but worker threads that are not daemons (a load
    # generator's pool still retrying) would keep the interpreter alive after that, so the process
    # ends by itself once the grace period has passed (seen: a chaos run lingering an hour).
    deadline = threading.Timer(SIGTERM_GRACE_SECONDS, os._exit, args=(128 + signum,))
    deadline.daemon = True
    deadline.start()
    raise KeyboardInterrupt(f"stopped by signal {signum}")


# Ports free_port gave out: the kernel may pick a port again that it just gave, before the server
# it was meant for has bound it (seen: two of 2,000 calls in a row).
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()
_FREE_PORT_ATTEMPTS = 100


def free_port() -> int:
    """A TCP port nobody listens on right now, and not given out before by this process."""
    with _handed_out_lock:
        for _ in range(_FREE_PORT_ATTEMPTS):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no new free port in {_FREE_PORT_ATTEMPTS} tries")


class TimedOut(RuntimeError):
    """Raised when something waited for did not happen in time."""


def wait_for(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Poll `condition` until it holds; raise TimedOut naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimedOut(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ready(url: str) -> Callable[[], bool]:
    """A condition that holds once `url` answers with success (2xx). Anything else is not the
    process waited for: a 404 is another server on its port (seen: the web process could not bind,
    the simulator answered there, and a run went on against it)."""

    def check() -> bool:
        try:
            return 200 <= requests.get(url, timeout=1).status_code < 300
        except requests.RequestException:
            return False

    return check


class CommandFailed(RuntimeError):
    """Raised when a one-shot promobridge command exits with an error."""


class ProcessGroup:
    """Starts named processes with one environment, logs each to a file, stops them all at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, *args: str, timeout: float = 60, stdin: str | None = None) -> str:
        """Run a promobridge command to completion and return its output (fails on a non-zero exit);
        `stdin` is written to its standard input (a password for `users create --password-stdin`)."""
        result = subprocess.run(
            [*PROMOBRIDGE, *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
            input=None if stdin is None else stdin.encode(),
        )
        if result.returncode != 0:
            output = result.stdout.decode() + result.stderr.decode()
            raise CommandFailed(f"promobridge {' '.join(args)} exited {result.returncode}:\n{output}")
        return result.stdout.decode()

    def start(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start `promobridge ARGS` in its own process group (so its children can be signalled too)."""
        return self._spawn(name, [*PROMOBRIDGE, *args], self.env)

    def start_command_line(
        self, name: str, command_line: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a Procfile command line through the shell, as a platform would, with extra `env`.

        `promobridge` resolves to this interpreter's script even when its folder is not on PATH.
        """
        path = os.pathsep.join([os.path.dirname(sys.executable), self.env.get("PATH", "")])
        merged = {**self.env, **(env or {}), "PATH": path}
        return self._spawn(name, ["/bin/sh", "-c", f"exec {command_line}"], merged)

    def _spawn(self, name: str, argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                list(argv), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the whole process group of `name`."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=STOP_GRACE_SECONDS)

    def stop_all(self) -> None:
        """SIGTERM everything, then SIGKILL what is still alive."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        """The tail of every process log, for failure messages."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"----- {path.name} -----\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)
