"""Safeguards as values: which rule applies, what applies field by field, what a batch may reserve."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.safeguards import (
    MAX_AUDIENCE,
    MAX_REWARD_AMOUNT,
    MAX_REWARDS,
    InvalidSetting,
    RewardRequest,
    Safeguards,
    SettingsRule,
    check_limits,
    effective_settings,
    reserve_rewards,
    rule_for,
    safeguard_of,
)


def test_the_highest_priority_rule_wins_then_the_most_specific_pattern() -> None:
    broad, narrow, urgent = SettingsRule("*"), SettingsRule("WELCOME-*"), SettingsRule("W*", priority=5)

    assert rule_for([broad, narrow], "WELCOME-10") is narrow
    assert rule_for([broad, narrow, urgent], "WELCOME-10") is urgent
    assert rule_for([narrow, urgent], "BONUS") is None
    assert rule_for([broad], None) is None


def test_rule_patterns_are_case_sensitive_shell_patterns() -> None:
    assert SettingsRule("VIP-[0-9]?").matches("VIP-12")
    assert not SettingsRule("vip-*").matches("VIP-1")


def test_each_field_falls_back_on_its_own_from_the_campaign_to_the_rule_to_the_environment() -> None:
    rule = SettingsRule("S*", mode="auto", safeguards=Safeguards(max_audience=10, max_rewards=5))
    settled = effective_settings(
        own_mode=None,
        own=Safeguards(max_rewards=2),
        rule=rule,
        environment_mode="claim",
        environment=Safeguards(max_audience=99, max_reward_amount=Decimal(7)),
    )

    assert (settled.mode, settled.mode_from) == ("auto", "rule:S*")
    assert settled.safeguards == Safeguards(10, 2, Decimal(7))
    assert dict(settled.sources) == {
        "max_audience": "rule:S*", "max_rewards": "settings", "max_reward_amount": "environment"
    }  # fmt: skip


def test_nothing_set_anywhere_is_no_limit_and_the_environments_mode() -> None:
    settled = effective_settings(
        own_mode=None, own=Safeguards(), rule=None, environment_mode="claim", environment=Safeguards()
    )
    assert (settled.mode, settled.mode_from, settled.safeguards) == ("claim", "environment", Safeguards())


def test_rewards_are_reserved_in_order_up_to_the_count_and_the_amount() -> None:
    requests = [RewardRequest(f"c{n}", Decimal(amount)) for n, amount in enumerate([10, 30, 5, 10])]

    by_count = reserve_rewards(
        Safeguards(max_rewards=3), rewards_reserved=1, amount_reserved=Decimal(0), requests=requests
    )
    by_amount = reserve_rewards(
        Safeguards(max_reward_amount=Decimal(30)),
        rewards_reserved=0,
        amount_reserved=Decimal(10),
        requests=requests,
    )

    assert [r.claim_id for r in by_count.granted] == ["c0", "c1"]
    assert by_count.rejected == {"c2": MAX_REWARDS, "c3": MAX_REWARDS}
    assert [r.claim_id for r in by_amount.granted] == ["c0", "c2"]  # a smaller one after a large one fits
    assert by_amount.rejected == {"c1": MAX_REWARD_AMOUNT, "c3": MAX_REWARD_AMOUNT}
    assert by_amount.amount == Decimal(15)


def test_no_limit_reserves_everything() -> None:
    requests = [RewardRequest("c", Decimal(10**12))]
    assert (
        reserve_rewards(
            Safeguards(), rewards_reserved=10**9, amount_reserved=Decimal(0), requests=requests
        ).granted
        == requests
    )


def test_an_audience_over_the_maximum_is_one_customer_more() -> None:
    assert not Safeguards(max_audience=10).over_audience(10)
    assert Safeguards(max_audience=10).over_audience(11)
    assert not Safeguards().over_audience(10**9)


@pytest.mark.parametrize(
    "limits",
    [(-1, None, None), (None, 2**63, None), (None, None, Decimal("Infinity")), (None, None, Decimal(-1))],
)
def test_negative_or_unbounded_limits_are_invalid(
    limits: tuple[int | None, int | None, Decimal | None],
) -> None:
    with pytest.raises(InvalidSetting):
        check_limits(*limits)


def test_a_reason_names_its_safeguard() -> None:
    assert safeguard_of(f"{MAX_AUDIENCE}: 20 customers ingested") == MAX_AUDIENCE
    assert safeguard_of(MAX_REWARDS) == MAX_REWARDS
    assert safeguard_of("optipromo:not_eligible") is None
    assert safeguard_of(None) is None
