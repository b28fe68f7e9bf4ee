"""The claim state machine, request fingerprints and reward scaling (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.claims import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATES,
    ClaimRequest,
    ClaimState,
    InvalidTransition,
    Reward,
    RewardContext,
    check_transition,
)
from app.policies.base import PolicyConfigError
from app.policies.rewards import RewardCap, RewardPipeline, VipMultiplier, build_reward_pipeline


def test_terminal_states_have_no_way_out_except_failed_which_can_be_retried() -> None:
    assert ALLOWED_TRANSITIONS[ClaimState.COMPLETED] == frozenset()
    assert ALLOWED_TRANSITIONS[ClaimState.REJECTED] == frozenset()
    assert ALLOWED_TRANSITIONS[ClaimState.FAILED] == {ClaimState.PENDING, ClaimState.ACTIVATED}
    assert {ClaimState.COMPLETED, ClaimState.REJECTED, ClaimState.FAILED} == TERMINAL_STATES


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (ClaimState.PENDING, ClaimState.ACTIVATED),
        (ClaimState.ACTIVATED, ClaimState.REJECTED),
        (ClaimState.COMPLETED, ClaimState.PENDING),
        (ClaimState.VALIDATED, ClaimState.PENDING),
    ],
)
def test_transitions_outside_the_diagram_are_refused(source: ClaimState, target: ClaimState) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(source, target)


def test_the_fingerprint_ignores_key_order_and_sees_every_value() -> None:
    a = ClaimRequest(1, "c", {"x": 1, "y": "z"})
    assert a.fingerprint() == ClaimRequest(1, "c", {"y": "z", "x": 1}).fingerprint()
    assert a.fingerprint() != ClaimRequest(1, "c", {"x": 2, "y": "z"}).fingerprint()
    assert a.fingerprint() != ClaimRequest(2, "c", {"x": 1, "y": "z"}).fingerprint()


def context(segment: str | None) -> RewardContext:
    return RewardContext(1, "c", segment, "gold", {})


@pytest.mark.parametrize(
    ("segment", "amount", "expected"),
    [
        ("gold", "25", "37.50"),
        ("platinum", "50", "100"),
        ("standard", "10", "10"),
        (None, "10", "10"),
        ("silver", "33.33", "40.00"),
    ],
)
def test_vip_multiplier_then_cap(segment: str | None, amount: str, expected: str) -> None:
    pipeline = RewardPipeline([VipMultiplier(), RewardCap(max_amount=100)])
    assert pipeline.scale(Reward("bonus_money", Decimal(amount)), context(segment)).amount == Decimal(
        expected
    )


def test_caps_can_be_per_reward_type_and_amounts_never_go_negative() -> None:
    cap = RewardCap(max_amount=100, per_type={"free_spins": 20})
    assert cap.scale(Reward("free_spins", Decimal(50)), context(None)).amount == 20
    assert RewardPipeline([]).scale(Reward("x", Decimal(-5)), context(None)).amount == 0


def test_reward_policies_are_configured_by_path_and_validated() -> None:
    pipeline = build_reward_pipeline(
        ["app.policies.rewards:VipMultiplier"], {"VipMultiplier": {"multipliers": {"gold": 3}}}
    )
    assert pipeline.scale(Reward("x", Decimal(2)), context("gold")).amount == Decimal(6)
    with pytest.raises(PolicyConfigError):
        build_reward_pipeline(
            ["app.policies.rewards:VipMultiplier"], {"VipMultiplier": {"multipliers": {"gold": -1}}}
        )
    with pytest.raises(PolicyConfigError, match="scale"):
        build_reward_pipeline(["app.policies.consent:ConsentScrub"], {})
