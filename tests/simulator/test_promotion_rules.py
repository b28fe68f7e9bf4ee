"""Tier conditions and the reservation ledger, without HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from simulator.promotion_rules import parse_tiers, select_tier
from simulator.promotions import Ineligibility, Promotion, PromotionRegistry, ValidationContext

REWARD = {"type": "cash", "amount": 1}


def _tier_name(when: Mapping[str, Any], attributes: dict[str, str], session: dict[str, Any]) -> str | None:
    tiers = parse_tiers([{"name": "hit", "when": when, "reward": REWARD}])
    tier = select_tier(tiers, attributes, session)
    return None if tier is None else tier.name


def test_values_compare_as_numbers_when_both_sides_are_numeric() -> None:
    when = {"attributes": {"VIPLevel": {"gte": 9}}}

    assert _tier_name(when, {"VIPLevel": "10"}, {}) == "hit"  # as text "10" < "9"
    assert _tier_name(when, {"VIPLevel": "8.5"}, {}) is None
    assert _tier_name({"session": {"deposit_amount": {"eq": "100.0"}}}, {}, {"deposit_amount": 100}) == "hit"


def test_non_numeric_values_compare_as_text_and_missing_values_never_match() -> None:
    when = {"attributes": {"Country": {"in": ["GB", "SE"]}}}

    assert _tier_name(when, {"Country": "SE"}, {}) == "hit"
    assert _tier_name(when, {"Country": "DE"}, {}) is None
    assert _tier_name(when, {}, {}) is None
    assert _tier_name({"session": {"game": {"lte": "m"}}}, {}, {"game": None}) is None
    assert _tier_name({"session": {"game": {"lte": "m"}}}, {}, {"game": "blackjack"}) == "hit"


def test_concurrent_validations_never_reserve_past_the_audience_cap() -> None:
    registry = PromotionRegistry()
    registry.put(
        Promotion.from_json(
            {"promocode_id": "P", "audience_cap": 7, "tiers": [{"name": "t", "reward": REWARD}]}
        )
    )
    contexts = [ValidationContext(f"c{i}", {}, {}) for i in range(200)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = [v for batch in pool.map(lambda c: registry.validate("P", [c]), contexts) for v in batch]

    granted = [v for v in verdicts if v.tier is not None]
    assert len(granted) == 7
    assert {v.reason for v in verdicts if v.tier is None} == {Ineligibility.AUDIENCE_CAP_REACHED}
    assert registry.snapshot()["P"]["customers_reserved"] == 7
