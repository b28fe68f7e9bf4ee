"""Real processes for end-to-end tests and benchmarks: started with the project's own commands."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

PROMOBRIDGE = [sys.executable, "-m", "app.cli"]
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
STOP_GRACE_SECONDS = 10.0


@contextmanager
def throwaway_postgres_database(
    prefix: str = "promobridge_test", admin_url: str | None = None
) -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = admin_url or POSTGRES_ADMIN_URL
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Poll `condition` until it holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ready(url: str) -> Callable[[], bool]:
    """A condition that holds once `url` answers anything below 500."""

    def check() -> bool:
        try:
            return requests.get(url, timeout=1).status_code < 500
        except requests.RequestException:
            return False

    return check


class ProcessGroup:
    """Starts named processes with one environment, logs each to a file, stops them all at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, *args: str, timeout: float = 60) -> str:
        """Run a promobridge command to completion and return its output (fails on a non-zero exit)."""
        result = subprocess.run(
            [*PROMOBRIDGE, *args], env=self.env, capture_output=True, timeout=timeout, check=False
        )
        output = result.stdout.decode() + result.stderr.decode()
        assert result.returncode == 0, f"promobridge {' '.join(args)} failed:\n{output}"
        return result.stdout.decode()

    def start(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start `promobridge ARGS` in its own process group (so its children can be signalled too)."""
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [*PROMOBRIDGE, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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
