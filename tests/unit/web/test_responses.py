"""The answer models: the bodies the views build with them, the same as the API has always answered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.claims import Claim as ClaimRecord
from app.domain.claims import ClaimState
from app.observability.health import Readiness
from app.services.reports import CampaignReport
from app.web.optimove_payloads import GatewayError, ListenerAck
from app.web.responses import CampaignReportView, ClaimView, ErrorBody, FieldError, ReadinessView

CREATED = datetime(2025, 5, 1, 9, 0, 0, 120000, tzinfo=UTC)
CLAIM = ClaimRecord(
    id="6c1f2a9e-4d1b-4c39-9a53-1f0d8e2b7a41",
    client_id=1,
    source="http",
    campaign_id=1359,
    customer_id="C234638",
    promo_code="WELCOME",
    segment="vip",
    session_properties={"deposit_amount": 120},
    idempotency_key="click-8f2c",
    request_hash="h",
    state=ClaimState.PENDING,
    reason=None,
    tier=None,
    reward_type=None,
    reward_amount=None,
    granted_amount=None,
    attempts=0,
    activation_attempts=0,
    correlation_id=None,
    created_at=CREATED,
    updated_at=CREATED,
    validated_at=None,
    activated_at=None,
    completed_at=None,
)


def test_a_pending_claim_is_shown_as_the_api_has_always_shown_it() -> None:
    assert ClaimView.from_claim(CLAIM).body() == {
        "id": CLAIM.id,
        "status": "pending",
        "reason": None,
        "campaign_id": 1359,
        "customer_id": "C234638",
        "promo_code": "WELCOME",
        "reward": None,
        "created_at": "2025-05-01T09:00:00.120000+00:00",
        "updated_at": "2025-05-01T09:00:00.120000+00:00",
        "validated_at": None,
        "activated_at": None,
        "completed_at": None,
        "status_url": f"/v1/claims/{CLAIM.id}",
    }


def test_a_claim_shows_the_reward_offered_until_it_is_granted_then_the_granted_amount() -> None:
    validated = replace(
        CLAIM,
        state=ClaimState.VALIDATED,
        tier="T2",
        reward_type="free_spins",
        reward_amount=Decimal("10.00"),
        validated_at=CREATED + timedelta(seconds=1),
    )
    granted = replace(validated, state=ClaimState.ACTIVATED, granted_amount=Decimal("12.50"))

    offered = ClaimView.from_claim(validated).body()
    assert offered["reward"] == {"type": "free_spins", "amount": "10.00", "tier": "T2"}
    assert offered["validated_at"] == "2025-05-01T09:00:01.120000+00:00"
    assert ClaimView.from_claim(granted).body()["reward"] == {
        "type": "free_spins",
        "amount": "12.50",
        "tier": "T2",
    }


def test_the_campaign_report_answered_is_what_campaigns_show_json_prints() -> None:
    report = CampaignReport(
        campaign_id=1359,
        kind="scheduled",
        mode="claim",
        state="ready",
        clearance_required_by=datetime(2025, 5, 2, 9, 0, tzinfo=UTC),
        seconds_to_deadline=3600.5,
        at_risk=False,
        pages_done=3,
        last_page=2,
        rows_ingested=25_000,
        eligible=24_000,
        scrubbed=1_000,
        scrubbed_by_reason={"no_consent": 900, "fraud": 100},
        segments={"vip": 400, "standard": 23_600},
        claimed=12,
        claims_by_state={"completed": 9, "rejected": 2, "failed": 1},
        validated=10,
        rejected=2,
        rejected_by_reason={"scrubbed:fraud": 1, "budget_exhausted": 1},
        rewarded=9,
        reported=9,
        failed=1,
        failed_by_reason={"activation_misconfigured: answered 401": 1},
        approvals_pending=0,
        oldest_pending_seconds=None,
        approvals_sent=10,
        approvals_dead=0,
        approval_calls=1,
        resent=0,
        ingest_seconds=12.25,
        webhook_to_last_approval_seconds=None,
        error=None,
        event_conflicts=1,
        recent_event_conflicts=[
            {
                "event_id": 7,
                "event_type_id": 5,
                "first_event_id": 3,
                "received_at": "2025-05-01T08:31:00.500000+00:00",
                "payload": {"EventTypeID": 5, "CampaignID": 1359, "ClearanceRequiredBy": "2025-05-03 09:00"},
            }
        ],
    )

    assert CampaignReportView.from_report(report).body() == report.as_json()


def test_the_readiness_answers_are_the_probe_bodies_ready_or_not() -> None:
    for readiness in (
        Readiness({"database": "ok", "broker": "skipped"}),
        Readiness({"database": "error: down", "broker": "ok"}, ["database"]),
    ):
        assert ReadinessView.from_readiness(readiness).body() == readiness.as_json()


def test_optional_fields_without_a_value_are_left_out_of_an_answer_not_null() -> None:
    assert ErrorBody(error="not_found", message="no such claim").body() == {
        "error": "not_found",
        "message": "no such claim",
    }
    assert ErrorBody(error="e", message="m", details=[FieldError(field="f", message="m")]).body()[
        "details"
    ] == [{"field": "f", "message": "m"}]
    assert "user_id" not in GatewayError(error="e", message="m", allowed=False).body()
    assert "differs_in" not in ListenerAck(status="accepted", event_type_id=5, campaign_id=1).body()
