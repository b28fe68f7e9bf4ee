"""The error tree's shape and the Retry-After reader."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain import optimove_errors as errors
from app.domain.optimove_errors import (
    OptimoveAuthError,
    OptimoveConnectionError,
    OptimoveError,
    OptimoveProtocolError,
    OptimoveRateLimited,
    OptimoveRequestRejected,
    OptimoveServerError,
    OptimoveTimeout,
    PermanentOptimoveError,
    SkipIgnoredError,
    TransientOptimoveError,
    parse_retry_after,
)

NOW = datetime(2025, 5, 1, 9, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error_class", "family"),
    [
        (OptimoveTimeout, TransientOptimoveError),
        (OptimoveConnectionError, TransientOptimoveError),
        (OptimoveServerError, TransientOptimoveError),
        (OptimoveRateLimited, TransientOptimoveError),
        (OptimoveAuthError, PermanentOptimoveError),
        (OptimoveRequestRejected, PermanentOptimoveError),
        (OptimoveProtocolError, PermanentOptimoveError),
        (SkipIgnoredError, PermanentOptimoveError),
    ],
)
def test_every_error_is_either_transient_or_permanent(error_class: type[OptimoveError], family: type) -> None:
    other = PermanentOptimoveError if family is TransientOptimoveError else TransientOptimoveError

    assert issubclass(error_class, family)
    assert not issubclass(error_class, other)
    assert error_class.__doc__ and "\n" not in error_class.__doc__.strip()
    assert error_class.outcome != OptimoveError.outcome


def test_every_exception_class_has_a_one_line_docstring() -> None:
    classes = [
        value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, Exception)
    ]

    assert len(classes) == 12  # the tree in errors.py, limiter-unavailable included
    assert all(cls.__doc__ and "\n" not in cls.__doc__.strip() for cls in classes)


def test_error_attributes_are_kept() -> None:
    limited = OptimoveRateLimited("slow down", endpoint="general/X", retry_after=2.5)
    rejected = OptimoveRequestRejected("no", endpoint="general/Y", status=400, body="bad CampaignID")

    assert (limited.endpoint, limited.status, limited.retry_after, limited.ambiguous) == (
        "general/X",
        429,
        2.5,
        False,
    )
    assert (rejected.status, rejected.body, str(rejected)) == (400, "bad CampaignID", "no")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("2.5", 2.5),
        ("Thu, 01 May 2025 09:00:30 GMT", 30.0),
        ("Thu, 01 May 2025 08:59:00 GMT", 0.0),  # already past: retry now
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("later", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_or_an_http_date(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected
