"""Deadline arithmetic and settings parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.config import Settings
from app.domain.campaigns import ApprovalBudget, calls_needed, is_at_risk

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BUDGET = ApprovalBudget(limit=50, window_seconds=10)


def test_the_first_window_is_free_and_each_further_window_costs_its_length() -> None:
    assert BUDGET.seconds_for_calls(50) == 0
    assert BUDGET.seconds_for_calls(51) == 10
    assert BUDGET.seconds_for_calls(200) == 30
    assert (
        calls_needed(1_000_000, 10_000) == 100
        and calls_needed(0, 10_000) == 0
        and calls_needed(1, 10_000) == 1
    )


@pytest.mark.parametrize(
    ("deadline_in", "pending", "at_risk"),
    [
        (timedelta(minutes=30), 1_000_000, False),
        (timedelta(minutes=6), 1_000_000, True),  # within the 5-minute margin plus 10 s of sending
        (timedelta(minutes=5, seconds=30), 10, False),
        (timedelta(minutes=4), 10, True),
        (timedelta(minutes=1), 0, False),  # nothing left to send
    ],
)
def test_a_campaign_is_at_risk_when_sending_the_rest_may_not_finish_before_the_margin(
    deadline_in: timedelta, pending: int, at_risk: bool
) -> None:
    margin = timedelta(minutes=5)
    assert (
        is_at_risk(
            now=NOW,
            deadline=NOW + deadline_in,
            pending_rows=pending,
            batch_size=10_000 if pending < 10**6 else 1_000,
            budget=BUDGET,
            safety_margin=margin,
        )
        is at_risk
    )


def test_settings_default_to_embedded_servers(tmp_path: object) -> None:
    settings = Settings()
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_broker_url == "filesystem://"
    assert settings.rate_limiter_redis_url is None


def test_settings_parse_production_values() -> None:
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL="postgresql+psycopg2://u@db/promobridge",
        CELERY_BROKER_URL="redis://cache:6379/0",
        CAMPAIGN_MODES="7:claim, 8:auto",
        PROMOBRIDGE_POLICY_OPTIONS='{"ConsentScrub": {"attribute": "OptIn"}}',
        OPTIMOVE_CUSTOMER_ATTRIBUTES="A; B;",
        LISTENER_TOKEN="tok",
        PROMOBRIDGE_PUBLIC_URL="https://promo.example.com/",
    )
    assert settings.rate_limiter_redis_url == "redis://cache:6379/0"
    assert settings.campaign_mode_overrides == {7: "claim", 8: "auto"}
    assert settings.policy_option_map == {"ConsentScrub": {"attribute": "OptIn"}}
    assert settings.customer_attribute_names == ("A", "B")
    assert settings.listener_url == "https://promo.example.com/webhooks/optimove/tok"
    assert "tok" not in repr(settings)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("CAMPAIGN_MODES", "7:sometimes", "CAMPAIGN_MODES"),
        ("PROMOBRIDGE_POLICY_OPTIONS", "[1]", "JSON object"),
    ],
)
def test_bad_settings_are_reported_clearly(field: str, value: str, message: str) -> None:
    settings = Settings(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        _ = settings.campaign_mode_overrides if field == "CAMPAIGN_MODES" else settings.policy_option_map
