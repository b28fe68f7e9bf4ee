"""Outside embedded mode no process starts with a missing, well-known or weak secret.

Each process is started for real, as the Procfile and docker-compose start it, and must exit with
code 2 and a message saying how to fix it, before it gets as far as serving or consuming.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.config import Settings
from app.processes import free_port
from app.security import EMBEDDED_TOKEN_FILE, SecretsMisconfigured
from app.web import create_app
from tests.support.databases import redis_test_url
from tests.support.flow import webhook_payload
from tests.support.scripted_http import ScriptedHTTPServer
from tests.support.secrets import SAFE_SECRETS

REFUSED = 2
START_TIMEOUT_SECONDS = 60.0
# Where the process says it got going: the refusal must come before it.
STARTED_MARKERS = ("ready.", "relay started", "Listening at", "Visit me at", "Sending due task", "registered")
CONFIGURATION_PREFIXES = (
    *("DATABASE_", "CELERY_", "OPTIMOVE_", "OPTIPROMO_", "REDIS_", "PROMOBRIDGE_", "LISTENER_", "FLOWER_"),
)
PRODUCTION = {
    # Never connected to: a refusal must come before any server is needed.
    "DATABASE_URL": "postgresql://promobridge@127.0.0.1:1/promobridge",
    "CELERY_BROKER_URL": redis_test_url(3),
    **SAFE_SECRETS,
}
CHECK_FIX = "promobridge init"


def _start(command: list[str], tmp_path: Path, **env: str) -> tuple[int | None, str]:
    """Run `command` until it exits (its code) or says it started (None: it was stopped)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURATION_PREFIXES)}
    (tmp_path / "data").mkdir(exist_ok=True)  # celery beat opens its schedule file there
    process = subprocess.Popen(
        command,
        env={**clean, **PRODUCTION, "PROMOBRIDGE_DATA_DIR": str(tmp_path / "data"), **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        if any(marker in line for line in list(lines) for marker in STARTED_MARKERS):
            break
        time.sleep(0.1)
    code = process.poll()
    if code is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    reader.join(timeout=5)
    return code, "".join(lines)


def _promobridge(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


def _assert_refused(code: int | None, output: str, *reasons: str) -> None:
    assert code == REFUSED, f"it started (or crashed) instead of refusing:\n{output[-3000:]}"
    assert CHECK_FIX in output and "Traceback" not in output, output[-3000:]
    for reason in reasons:
        assert reason in output, output[-3000:]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("change-me-listener-token", "LISTENER_TOKEN is a well-known placeholder"),
        ("f3Kq9zR1xV7m", "LISTENER_TOKEN is 12 characters long"),
        ("", "LISTENER_TOKEN is not set"),
    ],
)
def test_the_web_app_refuses_to_build_with_postgresql_and_a_default_short_or_missing_token(
    token: str, reason: str
) -> None:
    settings = Settings(**{**PRODUCTION, "LISTENER_TOKEN": token})
    with pytest.raises(SecretsMisconfigured) as refused:
        create_app(settings)
    assert reason in str(refused.value) and CHECK_FIX in str(refused.value)


def test_the_embedded_web_app_makes_its_own_token_and_accepts_only_that(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    settings = Settings(PROMOBRIDGE_DATA_DIR=tmp_path / "data")  # type: ignore[call-arg]
    client = create_app(settings, sqlite_engine).test_client()
    token = (tmp_path / "data" / EMBEDDED_TOKEN_FILE).read_text().strip()
    event = webhook_payload(42)

    assert client.post("/webhooks/optimove/change-me-listener-token", json=event).status_code == 401
    assert client.post(f"/webhooks/optimove/{token}", json=event).status_code == 200


def test_promobridge_web_refuses_the_default_token(tmp_path: Path) -> None:
    port = str(free_port())
    code, output = _start(
        _promobridge("web", "--port", port), tmp_path, LISTENER_TOKEN="change-me-listener-token"
    )
    _assert_refused(code, output, "promobridge web refuses to start", "well-known placeholder")


@pytest.mark.parametrize(
    "command",
    [
        _promobridge("worker", "-c", "1"),
        # Started without the CLI, the worker_init signal refuses.
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-c", "1"],
    ],
    ids=["promobridge-worker", "celery-worker"],
)
def test_a_worker_with_a_short_token_exits_before_it_is_ready(command: list[str], tmp_path: Path) -> None:
    code, output = _start(command, tmp_path, LISTENER_TOKEN="e2e-listener-token-7f3a9c")
    _assert_refused(code, output, "promobridge worker refuses to start", "LISTENER_TOKEN")
    assert "ready." not in output


@pytest.mark.parametrize(
    "command",
    [
        _promobridge("beat"),
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO"],
    ],
    ids=["promobridge-beat", "celery-beat"],
)
def test_beat_without_an_optimove_key_exits_before_scheduling(command: list[str], tmp_path: Path) -> None:
    code, output = _start(command, tmp_path, OPTIMOVE_API_KEY="")
    _assert_refused(code, output, "promobridge beat refuses to start", "OPTIMOVE_API_KEY is not set")


@pytest.mark.parametrize(
    "command",
    [_promobridge("relay"), [sys.executable, "-m", "workers.relay"]],
    ids=["promobridge-relay", "python-m-relay"],
)
def test_the_simulator_key_against_a_real_optimove_stops_the_relay(
    command: list[str], tmp_path: Path
) -> None:
    code, output = _start(
        command,
        tmp_path,
        OPTIMOVE_API_KEY="sim-key",
        OPTIMOVE_API_URL="https://api5.optimove.net/current",
        OPTIPROMO_API_URL="http://127.0.0.1:8900/optipromo",
    )
    _assert_refused(code, output, "OPTIMOVE_API_KEY is the simulator's well-known key", "api5.optimove.net")


@pytest.mark.parametrize(
    ("basic_auth", "reason"),
    [("", "FLOWER_BASIC_AUTH is not set"), ("admin:change-me", "well-known placeholder password")],
)
def test_flower_on_every_interface_refuses_no_or_placeholder_auth(
    basic_auth: str, reason: str, tmp_path: Path
) -> None:
    port = str(free_port())
    code, output = _start(
        _promobridge("flower", "--address", "0.0.0.0", "--port", port), tmp_path, FLOWER_BASIC_AUTH=basic_auth
    )
    _assert_refused(code, output, "promobridge flower refuses to start", reason)


def test_register_refuses_the_default_token_without_calling_optimove(tmp_path: Path) -> None:
    with ScriptedHTTPServer() as optimove:
        code, output = _start(
            _promobridge("register"),
            tmp_path,
            LISTENER_TOKEN="change-me-listener-token",
            OPTIMOVE_API_URL=f"{optimove.url}/current",
        )
        _assert_refused(code, output, "promobridge register refuses to start")
        assert optimove.requests == []
