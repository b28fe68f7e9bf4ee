"""How the console writes durations and numbers, and which passwords it takes."""

from __future__ import annotations

import pytest

from app.services.console_users import UnusableUserInput, check_password, check_user_name
from app.web.console.auth import safe_next
from app.web.console.formatting import duration, number, percent


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (59.9, "59s"),
        (61, "1m 01s"),
        (3725, "1h 02m"),
        (90_061, "1d 01h"),
        (-125, "overdue by 2m 05s"),
    ],
)
def test_time_left_reads_as_hours_and_minutes(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_numbers_are_grouped_by_thousands_and_bars_never_overflow() -> None:
    assert number(1234567) == "1\u202f234\u202f567"
    assert (percent(5, 0), percent(50, 200), percent(300, 200)) == (0.0, 25.0, 100.0)


@pytest.mark.parametrize("password", ["short", "ada-the-admin-2026", "aaaaaaaaaaaaaaaa", "x" * 2000])
def test_weak_or_absurd_passwords_are_refused(password: str) -> None:
    with pytest.raises(UnusableUserInput):
        check_password(password, "ada")


@pytest.mark.parametrize("name", ["", "-ada", "ada lovelace", "a" * 65, "ada\n", "<script>"])
def test_user_names_are_plain(name: str) -> None:
    with pytest.raises(UnusableUserInput):
        check_user_name(name)


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/console/audit", True),
        ("/console/campaigns/7?x=1", True),
        ("https://evil.example/console", False),
        ("//evil.example/console", False),
        ("/\\evil.example", False),
        ("/v1/claims", False),
        (None, False),
    ],
)
def test_only_console_paths_are_followed_after_sign_in(target: str | None, kept: bool) -> None:
    assert (safe_next(target) == target) is kept if target else safe_next(target) is None
