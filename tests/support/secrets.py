"""Secrets that pass promobridge's start-up check, fresh for each test run (never well known)."""

from __future__ import annotations

import secrets
from typing import Any

from app.config import Settings

STRONG_TOKEN = secrets.token_urlsafe(32)
OPTIMOVE_TEST_KEY = f"test-optimove-key-{secrets.token_hex(8)}"
SAFE_SECRETS = {
    "LISTENER_TOKEN": STRONG_TOKEN,
    "OPTIMOVE_API_KEY": OPTIMOVE_TEST_KEY,
    "FLOWER_BASIC_AUTH": f"ops:{secrets.token_urlsafe(24)}",
    "CONSOLE_SECRET_KEY": secrets.token_urlsafe(32),
}


def safe_settings(**overrides: Any) -> Settings:
    """Settings with strong secrets, plus the test's own values."""
    return Settings(**{**SAFE_SECRETS, **overrides})
