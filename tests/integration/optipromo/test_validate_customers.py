"""What validateCustomers sends and how its answers become results, against a real HTTP server."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from app.adapters.optimove.optipromo import OptiPromoClient, ValidationContext, ValidationResult
from app.domain.optimove_errors import OptimoveProtocolError
from tests.integration.optimove.conftest import API_KEY, CallLog, CountingLimiter
from tests.integration.optipromo.conftest import ClientFactory, answer_everyone, eligible_effect
from tests.support.scripted_http import RecordedRequest, Scripted, ScriptedHTTPServer

PROMO = "WELCOME"
VALIDATE_PATH = f"/optipromo/v1/promocodes/{PROMO}/validateCustomers"


def contexts(*customer_ids: str) -> list[ValidationContext]:
    return [ValidationContext(customer_id, {}) for customer_id in customer_ids]


def answer(*entries: dict[str, object]) -> Scripted:
    return Scripted(json={"promocodeId": PROMO, "contexts": list(entries)})


def test_body_carries_each_context_and_the_campaign_as_text(
    server: ScriptedHTTPServer, client: OptiPromoClient
) -> None:
    server.set_fallback(answer_everyone)
    asked = [ValidationContext("C1", {"deposit_amount": 120, "game": "slots"}), ValidationContext("C2", {})]

    client.validate_customers(PROMO, asked, campaign_id=1359)

    request = server.requests[0]
    assert (request.method, request.path) == ("POST", VALIDATE_PATH)
    assert request.json == {
        "contexts": [
            {"customerId": "C1", "sessionProperties": {"deposit_amount": 120, "game": "slots"}},
            {"customerId": "C2", "sessionProperties": {}},
        ],
        "campaignData": {"campaignId": "1359"},
    }
    assert request.headers["X-API-KEY"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"


def test_campaign_data_is_left_out_without_a_campaign(
    server: ScriptedHTTPServer, client: OptiPromoClient
) -> None:
    server.set_fallback(answer_everyone)

    client.validate_customers(PROMO, contexts("C1"))
    client.validate_customers(PROMO, contexts("C1"), campaign_id="spring-2025")

    assert "campaignData" not in server.requests[0].json
    assert server.requests[1].json["campaignData"] == {"campaignId": "spring-2025"}


@pytest.mark.parametrize(
    ("promocode_id", "sent_segment"),
    [("WELCOME/2025", "WELCOME%2F2025"), ("spring bonus", "spring%20bonus"), ("50%?#", "50%25%3F%23")],
)
def test_promocode_id_is_quoted_into_one_path_segment(
    server: ScriptedHTTPServer, make_client: ClientFactory, promocode_id: str, sent_segment: str
) -> None:
    server.set_fallback(answer_everyone)
    sent_paths: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, **_: sent_paths.append(response.request.path_url))
    client = make_client(session=session)

    client.validate_customers(promocode_id, contexts("C1"))

    assert sent_paths == [f"/optipromo/v1/promocodes/{sent_segment}/validateCustomers"]
    assert server.paths() == [f"/optipromo/v1/promocodes/{promocode_id}/validateCustomers"]
    session.close()


def test_first_effect_is_the_granted_reward(server: ScriptedHTTPServer, client: OptiPromoClient) -> None:
    server.enqueue(
        answer(
            {"customerId": "C1", "effects": [eligible_effect("T2", "free_spins", 20), eligible_effect("T1")]}
        )
    )

    [result] = client.validate_customers(PROMO, contexts("C1"))

    assert result == ValidationResult("C1", True, "T2", "free_spins", Decimal("20"), None)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"customerId": "C1", "effects": []}, "optipromo:not_eligible"),
        (
            {"customerId": "C1", "effects": [], "reason": "reward_budget_exhausted"},
            "optipromo:reward_budget_exhausted",
        ),
        (
            {"CustomerID": "C1", "Effects": [], "Reason": "audience_cap_reached"},
            "optipromo:audience_cap_reached",
        ),
        ({"customerId": "C1", "effects": None, "reason": ""}, "optipromo:not_eligible"),
        ({"customerId": "C1"}, "optipromo:not_eligible"),
    ],
    ids=["no-reason", "reason", "other-casing", "null-effects-empty-reason", "no-effects-key"],
)
def test_no_effects_means_not_eligible_with_a_reason(
    server: ScriptedHTTPServer, client: OptiPromoClient, entry: dict[str, object], reason: str
) -> None:
    server.enqueue(answer(entry))

    [result] = client.validate_customers(PROMO, contexts("C1"))

    assert result == ValidationResult("C1", False, None, None, None, reason)


@pytest.mark.parametrize(
    ("vendor_reason", "reason"),
    [
        ("audience_cap_reached", "optipromo:audience_cap_reached"),
        ("AudienceCapReached", "optipromo:audience_cap_reached"),
        ("REWARD-BUDGET-EXHAUSTED", "optipromo:reward_budget_exhausted"),
        (" promotion_inactive ", "optipromo:promotion_inactive"),
        ("Not Eligible", "optipromo:not_eligible"),
    ],
)
def test_the_vendors_reasons_become_promobridges_own_whatever_their_spelling(
    server: ScriptedHTTPServer, client: OptiPromoClient, vendor_reason: str, reason: str
) -> None:
    server.enqueue(answer({"customerId": "C1", "effects": [], "reason": vendor_reason}))

    [result] = client.validate_customers(PROMO, contexts("C1"))

    assert result.reason == reason


def test_a_reason_nobody_mapped_keeps_the_vendors_words(
    server: ScriptedHTTPServer, client: OptiPromoClient
) -> None:
    server.enqueue(
        answer(
            {"customerId": "C1", "effects": [], "reason": "CUSTOMER_SELF_EXCLUDED"},
            {"customerId": "C2", "effects": [], "reason": "line\nbreak\tand " + "x" * 500},
            {"customerId": "C3", "effects": [], "reason": 4021},
        )
    )

    first, second, third = client.validate_customers(PROMO, contexts("C1", "C2", "C3"))

    assert first.reason == "optipromo:other:CUSTOMER_SELF_EXCLUDED"
    assert second.reason is not None and second.reason.startswith("optipromo:other:line break and xxx")
    assert len(second.reason) <= 128 and second.reason.isprintable()
    assert third.reason == "optipromo:other:4021"


def test_configured_aliases_map_the_vendors_own_codes(
    server: ScriptedHTTPServer, make_client: ClientFactory
) -> None:
    client = make_client(
        reason_aliases={"BUDGET_CAP_HIT": "reward_budget_exhausted", "E1042": "not_eligible"}
    )
    server.enqueue(
        answer(
            {"customerId": "C1", "effects": [], "reason": "budget-cap-hit"},
            {"customerId": "C2", "effects": [], "reason": "E1042"},
            {"customerId": "C3", "effects": [], "reason": "audience_cap_reached"},
        )
    )

    reasons = [r.reason for r in client.validate_customers(PROMO, contexts("C1", "C2", "C3"))]

    assert reasons == [
        "optipromo:reward_budget_exhausted",
        "optipromo:not_eligible",
        "optipromo:audience_cap_reached",
    ]


def test_an_alias_to_a_reason_promobridge_does_not_know_is_refused(make_client: ClientFactory) -> None:
    with pytest.raises(ValueError, match="maybe_later"):
        make_client(reason_aliases={"X": "maybe_later"})


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(20, Decimal("20")), (12.5, Decimal("12.5")), ("7.25", Decimal("7.25")), (" 100 ", Decimal("100"))],
)
def test_amount_may_be_a_number_or_a_numeric_string(
    server: ScriptedHTTPServer, client: OptiPromoClient, amount: object, expected: Decimal
) -> None:
    server.enqueue(answer({"customerId": "C1", "effects": [eligible_effect(amount=amount)]}))

    [result] = client.validate_customers(PROMO, contexts("C1"))

    assert result.reward_amount == expected


def test_tier_type_and_amount_may_be_missing(server: ScriptedHTTPServer, client: OptiPromoClient) -> None:
    server.enqueue(
        answer({"customerId": 42, "effects": [{}]}, {"customerId": "C2", "effects": [{"reward": {}}]})
    )

    results = client.validate_customers(PROMO, contexts("42", "C2"))

    assert results == [
        ValidationResult("42", True, None, None, None, None),
        ValidationResult("C2", True, None, None, None, None),
    ]


def test_results_follow_the_request_order_whatever_the_answer_order(
    server: ScriptedHTTPServer, client: OptiPromoClient
) -> None:
    server.enqueue(
        answer(
            {"customerId": "C3", "effects": []},
            {"customerId": "C1", "effects": [eligible_effect("T1")]},
            {"customerId": "C2", "effects": [eligible_effect("T2")]},
            {"customerId": "UNASKED", "effects": []},
        )
    )

    results = client.validate_customers(PROMO, contexts("C1", "C2", "C3"))

    assert [(r.customer_id, r.tier, r.eligible) for r in results] == [
        ("C1", "T1", True),
        ("C2", "T2", True),
        ("C3", None, False),
    ]


def test_250_contexts_go_out_in_three_calls_of_at_most_100(
    server: ScriptedHTTPServer, client: OptiPromoClient, limiter: CountingLimiter, call_log: CallLog
) -> None:
    server.set_fallback(answer_everyone)
    ids = [f"C{n:03d}" for n in range(250)]

    results = client.validate_customers(PROMO, contexts(*ids), campaign_id=7)

    assert [len(request.json["contexts"]) for request in server.requests] == [100, 100, 50]
    sent = [c["customerId"] for request in server.requests for c in request.json["contexts"]]
    assert sent == ids
    assert [result.customer_id for result in results] == ids
    assert all(request.json["campaignData"] == {"campaignId": "7"} for request in server.requests)
    assert limiter.acquired == 3
    assert call_log.outcomes == ["ok"] * 3
    assert {endpoint for endpoint, _, _ in call_log.calls} == {"validateCustomers"}


def test_max_contexts_is_configurable(server: ScriptedHTTPServer, make_client: ClientFactory) -> None:
    server.set_fallback(answer_everyone)

    make_client(max_contexts=2).validate_customers(PROMO, contexts("C1", "C2", "C3"))

    assert [len(request.json["contexts"]) for request in server.requests] == [2, 1]


def test_no_contexts_means_no_call(server: ScriptedHTTPServer, client: OptiPromoClient) -> None:
    assert client.validate_customers(PROMO, []) == []
    assert server.requests == []


@pytest.mark.parametrize(
    ("promocode_id", "asked", "campaign_id"),
    [
        (PROMO, contexts("C1", "C2", "C1"), None),
        (PROMO, contexts(""), None),
        ("", contexts("C1"), None),
        (PROMO, contexts("C1"), ""),
        (PROMO, contexts("C1"), True),
    ],
    ids=["duplicate-customer", "empty-customer", "empty-promocode", "empty-campaign", "boolean-campaign"],
)
def test_impossible_requests_raise_value_error_before_any_call(
    server: ScriptedHTTPServer,
    client: OptiPromoClient,
    limiter: CountingLimiter,
    promocode_id: str,
    asked: list[ValidationContext],
    campaign_id: int | str | None,
) -> None:
    with pytest.raises(ValueError):
        client.validate_customers(promocode_id, asked, campaign_id=campaign_id)

    assert server.requests == []
    assert limiter.acquired == 0


def test_a_customer_missing_from_the_answer_is_a_protocol_error(
    server: ScriptedHTTPServer, client: OptiPromoClient
) -> None:
    server.enqueue(answer({"customerId": "C1", "effects": []}))

    with pytest.raises(OptimoveProtocolError) as caught:
        client.validate_customers(PROMO, contexts("C1", "C2"))

    assert "'C2'" in str(caught.value)
    assert caught.value.endpoint == "validateCustomers"


def test_a_failed_later_chunk_raises_after_the_earlier_calls(
    server: ScriptedHTTPServer, make_client: ClientFactory
) -> None:
    def second_call_misses_everyone(request: RecordedRequest) -> Scripted:
        return answer() if len(server.requests) == 2 else answer_everyone(request)

    server.set_fallback(second_call_misses_everyone)

    with pytest.raises(OptimoveProtocolError):
        make_client(max_contexts=2).validate_customers(PROMO, contexts("C1", "C2", "C3", "C4", "C5"))

    assert len(server.requests) == 2, "no further chunk is sent once one fails"


@pytest.mark.parametrize(
    "settings",
    [{"max_contexts": 0}, {"base_url": "optipromo.example.com"}, {"api_key": ""}, {"timeout_seconds": 0}],
    ids=["no-contexts-per-call", "no-scheme", "empty-key", "zero-timeout"],
)
def test_impossible_configuration_is_refused_at_construction(
    make_client: ClientFactory, settings: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        make_client(**settings)
