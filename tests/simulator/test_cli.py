"""The foreground server: announces its URL, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest
import requests

from simulator.cli import parse_rate_limit

STOP_TIMEOUT_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_rate_limit_option_is_limit_over_window_seconds() -> None:
    assert parse_rate_limit("50/10") == (50, 10.0)
    assert parse_rate_limit("3/0.5") == (3, 0.5)
    for bad in ("50", "0/10", "5/0", "x/y"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)


def test_simulator_command_serves_until_sigterm() -> None:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "simulator",
        "--port",
        str(port),
        "--api-key",
        "k1",
        "--rate-limit",
        "2/1",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == f"simulator listening on http://127.0.0.1:{port}"
            url = f"http://127.0.0.1:{port}/current/general/GetRegisteredEventListeners"
            headers = {"X-API-KEY": "k1"}
            statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0
        finally:
            if process.poll() is None:
                process.kill()
