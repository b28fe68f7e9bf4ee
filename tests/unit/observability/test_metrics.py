"""The record_* functions and the adapters' hooks move the right counters, and never raise."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from app.adapters.ratelimit import LocalSlidingWindowLimiter
from app.observability import metrics
from app.observability.metrics import (
    mark_process_dead,
    multiprocess_dir,
    record_claim_submission,
    record_optimove_call,
    record_ratelimit_wait,
    record_reward_grant,
    record_webhook,
    record_webhook_rejected,
    scrape_registry,
    start_worker_metrics_server,
    webhook_rejection_reason,
)


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_webhooks_are_counted_by_kind_and_rejections_by_reason() -> None:
    before = _value("promobridge_webhooks_received_total", kind="cancel")
    rejected = _value("promobridge_webhooks_rejected_total", reason="too_large")

    record_webhook("cancel")
    record_webhook("cancel")
    record_webhook_rejected("too_large")

    assert _value("promobridge_webhooks_received_total", kind="cancel") == before + 2
    assert _value("promobridge_webhooks_rejected_total", reason="too_large") == rejected + 1


def test_unknown_label_values_are_counted_as_other() -> None:
    before = _value("promobridge_claims_submitted_total", outcome="other")

    record_claim_submission("surprise")

    assert _value("promobridge_claims_submitted_total", outcome="other") == before + 1


def test_claim_submissions_are_counted_by_outcome() -> None:
    before = _value("promobridge_claims_submitted_total", outcome="rejected_at_once")
    record_claim_submission("rejected_at_once")
    assert _value("promobridge_claims_submitted_total", outcome="rejected_at_once") == before + 1


def test_an_optimove_call_counts_its_outcome_and_observes_its_duration() -> None:
    endpoint = "integrations/UpdateCustomerPromotionStatus"
    calls = _value("promobridge_optimove_calls_total", endpoint=endpoint, outcome="429")
    seconds = _value("promobridge_optimove_call_seconds_sum", endpoint=endpoint)
    fast = _value("promobridge_optimove_call_seconds_bucket", endpoint=endpoint, le="0.25")

    record_optimove_call(endpoint, "429", 0.2)

    assert _value("promobridge_optimove_calls_total", endpoint=endpoint, outcome="429") == calls + 1
    assert _value("promobridge_optimove_call_seconds_sum", endpoint=endpoint) == seconds + 0.2
    assert _value("promobridge_optimove_call_seconds_bucket", endpoint=endpoint, le="0.25") == fast + 1


def test_a_reward_grant_attempt_counts_its_outcome_and_observes_its_duration() -> None:
    misconfigured = _value("promobridge_reward_grants_total", outcome="misconfigured")
    other = _value("promobridge_reward_grants_total", outcome="other")
    seconds = _value("promobridge_reward_grant_seconds_sum")

    record_reward_grant("misconfigured", 0.3)
    record_reward_grant("surprise", 0.1)

    assert _value("promobridge_reward_grants_total", outcome="misconfigured") == misconfigured + 1
    assert _value("promobridge_reward_grants_total", outcome="other") == other + 1
    assert _value("promobridge_reward_grant_seconds_sum") == pytest.approx(seconds + 0.4)


def test_the_rate_limiters_on_wait_hook_counts_waits_and_seconds() -> None:
    waits = _value("promobridge_ratelimit_waits_total")
    waited = _value("promobridge_ratelimit_wait_seconds_total")
    slept: list[float] = []
    limiter = LocalSlidingWindowLimiter(
        limit=1, window_seconds=1.0, margin_seconds=0, on_wait=record_ratelimit_wait, sleep=slept.append,
        clock=iter([0.0, 0.0, 0.0, 0.0, 1.5, 1.5]).__next__,
    )  # fmt: skip

    limiter.acquire()
    limiter.acquire()  # full: "sleeps" until the first slot leaves the window

    assert _value("promobridge_ratelimit_waits_total") == waits + 1
    assert _value("promobridge_ratelimit_wait_seconds_total") == waited + 1.5


def test_record_functions_swallow_their_own_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def labels(self, **_: str) -> None:
            raise RuntimeError("metrics backend broken")

    monkeypatch.setattr(metrics, "OPTIMOVE_CALLS", Broken())
    monkeypatch.setattr(metrics, "WEBHOOKS_RECEIVED", Broken())
    monkeypatch.setattr(metrics, "REWARD_GRANTS", Broken())

    record_optimove_call("x", "ok", 0.1)  # must not raise
    record_webhook("scheduled")
    record_reward_grant("granted", 0.1)


def test_the_scrape_registry_renders_our_metrics_in_single_process_mode() -> None:
    record_webhook("triggered")

    text = generate_latest(scrape_registry()).decode()

    assert 'promobridge_webhooks_received_total{kind="triggered"}' in text
    assert "# TYPE promobridge_optimove_call_seconds histogram" in text


def test_without_a_multiprocess_dir_process_bookkeeping_is_a_no_op() -> None:
    assert multiprocess_dir() is None
    mark_process_dead(123456)  # nothing to clean, nothing raised
    assert start_worker_metrics_server(0) is False


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "malformed"),
        (401, "unauthorized"),
        (413, "too_large"),
        (415, "malformed"),
        (422, "unsupported"),
        (200, None),
        (503, None),
    ],
)
def test_webhook_responses_map_to_rejection_reasons(status: int, reason: str | None) -> None:
    assert webhook_rejection_reason(status) == reason


def test_a_safeguard_trip_is_counted_by_safeguard_and_an_unknown_one_as_other() -> None:
    before = _value("promobridge_safeguard_trips_total", safeguard="max_rewards")
    other = _value("promobridge_safeguard_trips_total", safeguard="other")

    metrics.record_safeguard_trip("safeguard:max_rewards", 3)
    metrics.record_safeguard_trip("safeguard:whatever", 1)

    assert _value("promobridge_safeguard_trips_total", safeguard="max_rewards") == before + 3
    assert _value("promobridge_safeguard_trips_total", safeguard="other") == other + 1
