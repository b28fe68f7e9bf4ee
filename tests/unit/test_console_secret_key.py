"""The console's session key: required and strong outside the embedded mode, generated inside it."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.security import (
    EMBEDDED_CONSOLE_KEY_FILE,
    Process,
    SecretsMisconfigured,
    check_secrets,
    require_safe_secrets,
    with_console_secret_key,
)
from tests.support.secrets import SAFE_SECRETS

PRODUCTION = {
    "DATABASE_URL": "postgresql://promobridge@db:5432/promobridge",
    "CELERY_BROKER_URL": "redis://cache:6379/0",
    "OPTIMOVE_API_URL": "https://api5.optimove.net/current",
    "OPTIPROMO_API_URL": "https://optipromo.optimove.net",
    **SAFE_SECRETS,
}


def production(**overrides: Any) -> Settings:
    return Settings(**{**PRODUCTION, **overrides})


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "is not set"),
        ("change-me-console-key-" + "x" * 20, "well-known placeholder"),
        ("q3RkX9vP2mZ7", "12 characters long"),
        ("ab" * 20, "pattern"),
    ],
)
@pytest.mark.parametrize("process", ["web", "run"])
def test_the_web_refuses_a_missing_or_weak_console_key(key: str, reason: str, process: Process) -> None:
    problems = check_secrets(production(CONSOLE_SECRET_KEY=key), process)
    assert len(problems) == 1 and problems[0].startswith("CONSOLE_SECRET_KEY") and reason in problems[0]
    assert key == "" or key not in problems[0]


@pytest.mark.parametrize("process", ["worker", "relay", "beat", "register"])
def test_processes_that_serve_no_console_do_not_need_its_key(process: Process) -> None:
    assert check_secrets(production(CONSOLE_SECRET_KEY=""), process) == []


def test_the_refusal_says_why_the_key_matters() -> None:
    with pytest.raises(SecretsMisconfigured) as refused:
        require_safe_secrets(production(CONSOLE_SECRET_KEY=""), "web")
    assert "signs the campaign console's sessions" in str(refused.value)


def test_embedded_mode_generates_one_console_key_per_data_directory(tmp_path: Path) -> None:
    settings = Settings(PROMOBRIDGE_DATA_DIR=tmp_path / "data")
    assert check_secrets(settings, "web") == []
    first = with_console_secret_key(settings).console_secret_key
    again = with_console_secret_key(settings).console_secret_key
    assert first == again and len(first) >= 32
    key_file = tmp_path / "data" / EMBEDDED_CONSOLE_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_console_key_that_is_set_is_kept_and_checked_even_in_embedded_mode(tmp_path: Path) -> None:
    settings = Settings(PROMOBRIDGE_DATA_DIR=tmp_path / "data", CONSOLE_SECRET_KEY="q3RkX9vP2mZ7")
    assert with_console_secret_key(settings).console_secret_key == "q3RkX9vP2mZ7"
    assert check_secrets(settings, "web")[0].startswith("CONSOLE_SECRET_KEY")


def test_the_console_cookie_is_secure_unless_served_over_plain_http(tmp_path: Path) -> None:
    assert production().console_cookie_secure
    assert not production(CONSOLE_PLAIN_HTTP="true").console_cookie_secure
    assert not Settings(PROMOBRIDGE_DATA_DIR=tmp_path / "data").console_cookie_secure
