"""OptiPromo validateCustomers: tiers, eligibility, audience cap, reward budget and reservations."""

from __future__ import annotations

from typing import Any

import requests

from tests.simulator.conftest import Control, OptimoveClient, effects_of, validate

EQUAL_VIP_WEIGHTS = [0.25, 0.25, 0.25, 0.25]
DEFAULT_TIERS = {"3": ("platinum", 50), "2": ("gold", 25), "1": ("silver", 15), "0": ("standard", 10)}
FLAT_TIER: dict[str, Any] = {"name": "flat", "when": {}, "reward": {"type": "free_spins", "amount": 10}}


def reasons_of(response: requests.Response) -> list[str | None]:
    assert response.status_code == 200, response.text
    return [context.get("reason") for context in response.json()["contexts"]]


def vip_levels(control: Control, campaign_id: int) -> dict[str, str]:
    customers = control.get(f"/campaigns/{campaign_id}/customers").json()["customers"]
    return {c["customer_id"]: c["attributes"]["VIPLevel"] for c in customers}


def test_default_tiers_follow_vip_level_and_double_on_a_deposit_of_100(
    optipromo: OptimoveClient, control: Control
) -> None:
    campaign = control.create_campaign(size=40, promo_code="WELCOME", vip_weights=EQUAL_VIP_WEIGHTS)
    levels = vip_levels(control, campaign["campaign_id"])
    plain, boosted, almost = list(levels)[:14], list(levels)[14:27], list(levels)[27:]

    plain_effects = effects_of(validate(optipromo, "WELCOME", plain))
    boosted_effects = effects_of(validate(optipromo, "WELCOME", boosted, {"deposit_amount": 100}))
    almost_effects = effects_of(validate(optipromo, "WELCOME", almost, {"deposit_amount": "99.5"}))

    assert set(levels.values()) == set(DEFAULT_TIERS)
    for cid, effects in zip(plain + almost, plain_effects + almost_effects, strict=True):
        name, amount = DEFAULT_TIERS[levels[cid]]
        assert effects == [{"tier": name, "reward": {"type": "bonus_money", "amount": amount}}]
    for cid, effects in zip(boosted, boosted_effects, strict=True):
        name, amount = DEFAULT_TIERS[levels[cid]]
        assert effects == [
            {"tier": f"{name}+deposit", "reward": {"type": "bonus_money", "amount": 2 * amount}}
        ]


def test_customers_outside_the_promo_codes_campaigns_are_not_eligible(
    optipromo: OptimoveClient, control: Control
) -> None:
    ours = control.create_campaign(size=2, promo_code="OURS")["campaign_id"]
    other = control.create_campaign(size=2, promo_code="OTHER")["campaign_id"]
    member, outsider = f"{ours}-0000000", f"{other}-0000000"

    response = validate(optipromo, "OURS", [outsider, "nobody", f"{ours}-0000002"])
    wrong_campaign = validate(optipromo, "OURS", [member], campaign_id=other)
    unknown_campaign = validate(optipromo, "OURS", [member], campaign_id="not-a-campaign")
    named_as_text = validate(optipromo, "OURS", [member], campaign_id=str(ours))
    named_as_int = validate(optipromo, "OURS", [f"{ours}-0000001"], campaign_id=ours)

    assert effects_of(response) == [[], [], []]
    assert reasons_of(response) == ["not_eligible"] * 3
    assert reasons_of(wrong_campaign) == reasons_of(unknown_campaign) == ["not_eligible"]
    assert reasons_of(named_as_text) == reasons_of(named_as_int) == [None]
    assert len(effects_of(named_as_int)[0]) == 1


def test_tiers_are_checked_in_order_and_no_match_is_not_eligible(
    optipromo: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=40, promo_code="VIP", vip_weights=EQUAL_VIP_WEIGHTS)[
        "campaign_id"
    ]
    levels = vip_levels(control, campaign_id)
    tiers = [
        {
            "name": "whale",
            "when": {"attributes": {"VIPLevel": {"gte": 3}}, "session": {"game": {"in": ["slots", "poker"]}}},
            "reward": {"type": "free_spins", "amount": 100},
        },
        {
            "name": "T2",
            "when": {"attributes": {"VIPLevel": {"gte": 2}}},
            "reward": {"type": "free_spins", "amount": 20},
        },
        {
            "name": "T1",
            "when": {"attributes": {"VIPLevel": {"in": ["1"], "lte": 1}}},
            "reward": {"type": "cash", "amount": 5},
        },
    ]
    assert control.post("/promotions", {"promocode_id": "VIP", "tiers": tiers}).status_code == 200

    ids = list(levels)
    response = validate(optipromo, "VIP", ids, {"game": "slots"})

    expected = {"3": "whale", "2": "T2", "1": "T1", "0": None}
    for cid, context in zip(ids, response.json()["contexts"], strict=True):
        tier = expected[levels[cid]]
        assert [e["tier"] for e in context["effects"]] == ([tier] if tier else [])
        assert context.get("reason") == (None if tier else "not_eligible")


def test_audience_cap_reached_once_the_cap_is_reserved(optipromo: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=5, promo_code="CAP")["campaign_id"]
    control.post("/promotions", {"promocode_id": "CAP", "audience_cap": 2, "tiers": [FLAT_TIER]})
    ids = [f"{campaign_id}-{i:07d}" for i in range(3)]

    response = validate(optipromo, "CAP", ids)

    assert reasons_of(response) == [None, None, "audience_cap_reached"]
    assert effects_of(response)[2] == []
    usage = control.get("/promotions/CAP").json()["usage"]
    assert usage["customers_reserved"] == 2
    assert usage["budget_used"] == 20


def test_reward_budget_exhausted_when_the_reward_no_longer_fits(
    optipromo: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=5, promo_code="BUDGET")["campaign_id"]
    control.post("/promotions", {"promocode_id": "BUDGET", "reward_budget": 25, "tiers": [FLAT_TIER]})

    response = validate(optipromo, "BUDGET", [f"{campaign_id}-{i:07d}" for i in range(3)])

    assert reasons_of(response) == [None, None, "reward_budget_exhausted"]
    assert control.state()["promotions"]["BUDGET"] == {
        "active": True,
        "audience_cap": None,
        "reward_budget": 25,
        "customers_reserved": 2,
        "budget_used": 20,
        "validate_calls": 1,
        "contexts_validated": 3,
        "customers_validated_more_than_once": 0,
    }


def test_revalidating_a_customer_returns_its_reservation_without_consuming_again(
    optipromo: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=3, promo_code="ONCE")["campaign_id"]
    control.post("/promotions", {"promocode_id": "ONCE", "audience_cap": 1})
    first, second = f"{campaign_id}-0000000", f"{campaign_id}-0000001"

    initial = effects_of(validate(optipromo, "ONCE", [first]))
    again = effects_of(validate(optipromo, "ONCE", [first, first], {"deposit_amount": 500}))
    someone_else = reasons_of(validate(optipromo, "ONCE", [second]))

    assert again == [initial[0], initial[0]]
    assert someone_else == ["audience_cap_reached"]
    usage = control.get("/promotions/ONCE").json()["usage"]
    assert usage["customers_reserved"] == 1
    assert usage["budget_used"] == initial[0][0]["reward"]["amount"]
    assert usage["validate_calls"] == 3
    assert usage["contexts_validated"] == 4
    assert usage["customers_validated_more_than_once"] == 1
    validations = control.get("/promotions/ONCE/validations").json()["validations"]
    assert validations == {
        first: {"times": 3, "tier": initial[0][0]["tier"], "amount": initial[0][0]["reward"]["amount"]},
        second: {"times": 1, "tier": None, "amount": None},
    }


def test_an_inactive_promotion_validates_nobody(optipromo: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=2, promo_code="OFF")["campaign_id"]
    control.post("/promotions", {"promocode_id": "OFF", "active": False})

    response = validate(optipromo, "OFF", [f"{campaign_id}-0000000", f"{campaign_id}-0000001"])

    assert reasons_of(response) == ["promotion_inactive"] * 2
    assert control.get("/promotions/OFF").json()["usage"]["customers_reserved"] == 0


def test_a_batch_of_100_contexts_is_answered_in_order(optipromo: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=150, promo_code="BATCH")["campaign_id"]
    ids = [f"{campaign_id}-{i:07d}" for i in range(149, 49, -1)]

    response = validate(optipromo, "BATCH", ids)

    body = response.json()
    assert body["promocodeId"] == "BATCH"
    assert [c["customerId"] for c in body["contexts"]] == ids
    assert all(len(c["effects"]) == 1 for c in body["contexts"])
    assert control.state()["promotions"]["BATCH"]["customers_reserved"] == 100


def test_too_many_or_malformed_contexts_are_refused_and_consume_nothing(
    optipromo: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=1, promo_code="BAD")["campaign_id"]
    member = f"{campaign_id}-0000000"
    path = "/v1/promocodes/BAD/validateCustomers"
    bad_bodies: list[Any] = [
        [],
        {},
        {"contexts": []},
        {"contexts": "C1"},
        {"contexts": [{"customerId": 42}]},
        {"contexts": [{"sessionProperties": {}}]},
        {"contexts": [{"customerId": member, "sessionProperties": []}]},
        {"contexts": [{"customerId": member}], "campaignData": "1001"},
        {"contexts": [{"customerId": member}], "campaignData": {"campaignId": True}},
        {"contexts": [{"customerId": member}] * 101},
    ]

    for body in bad_bodies:
        response = optipromo.post(path, json=body)
        assert response.status_code == 400, body
        assert response.json()["status"] == 400
    assert optipromo.post(path, data="{", headers={"Content-Type": "application/json"}).status_code == 400
    assert control.state()["promotions"]["BAD"]["contexts_validated"] == 0
    control.post("/promotions", {"promocode_id": "BAD", "max_contexts": 2})
    assert validate(optipromo, "BAD", [member] * 3).status_code == 400
    assert validate(optipromo, "BAD", [member] * 2).status_code == 200


def test_unknown_promo_codes_and_keys_are_refused(optipromo: OptimoveClient, control: Control) -> None:
    control.create_campaign(size=1, promo_code="KNOWN")
    stranger = OptimoveClient(optipromo.base_url, api_key="wrong-key")

    unknown = validate(optipromo, "NOPE", ["x"])

    assert unknown.status_code == 404
    assert unknown.json()["error"] == "Not Found"
    assert validate(stranger, "KNOWN", ["x"]).status_code == 401
    assert control.state()["responses"]["validateCustomers"] == {"404": 1, "401": 1}


def test_promotions_can_be_shaped_inspected_and_reset(control: Control) -> None:
    control.create_campaign(size=1, promo_code="SHAPE")
    default = control.get("/promotions/SHAPE").json()

    created = control.post(
        "/promotions", {"promocode_id": "FRESH", "reward_budget": 99.5, "tiers": [FLAT_TIER]}
    )
    replaced = control.post("/promotions", {"promocode_id": "FRESH", "audience_cap": 3})

    assert [t["name"] for t in default["tiers"]][:2] == ["platinum+deposit", "platinum"]
    assert default["tiers"][0]["when"] == {
        "attributes": {"VIPLevel": {"eq": "3"}},
        "session": {"deposit_amount": {"gte": 100}},
    }
    assert default["tiers"][-1] == {
        "name": "standard",
        "when": {},
        "reward": {"type": "bonus_money", "amount": 10},
    }
    assert default["audience_cap"] is None and default["reward_budget"] is None
    assert created.status_code == 201
    assert created.json()["tiers"] == [FLAT_TIER]
    assert replaced.status_code == 200
    assert replaced.json()["audience_cap"] == 3 and replaced.json()["reward_budget"] is None
    assert set(control.state()["promotions"]) == {"SHAPE", "FRESH"}
    control.post("/reset")
    assert control.state()["promotions"] == {}
    assert control.get("/promotions/SHAPE").status_code == 404
    assert control.get("/promotions/SHAPE/validations").status_code == 404


def test_invalid_promotions_are_refused(control: Control) -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"promocode_id": ""},
        {"promocode_id": "P", "active": "yes"},
        {"promocode_id": "P", "audience_cap": -1},
        {"promocode_id": "P", "reward_budget": "lots"},
        {"promocode_id": "P", "max_contexts": 0},
        {"promocode_id": "P", "surprise": 1},
        {"promocode_id": "P", "tiers": {}},
        {"promocode_id": "P", "tiers": [{"name": "x", "reward": {"type": "cash"}}]},
        {"promocode_id": "P", "tiers": [{"name": "x", "reward": {"type": "cash", "amount": -1}}]},
        {"promocode_id": "P", "tiers": [{**FLAT_TIER, "when": {"attributes": {"VIPLevel": {"gt": 1}}}}]},
        {"promocode_id": "P", "tiers": [{**FLAT_TIER, "when": {"attributes": {"VIPLevel": {"in": []}}}}]},
        {"promocode_id": "P", "tiers": [{**FLAT_TIER, "when": {"device": {}}}]},
    ]

    for body in bad:
        assert control.post("/promotions", body).status_code == 400, body
    assert control.state()["promotions"] == {}
