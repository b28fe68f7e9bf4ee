"""Safeguards and run-time campaign settings (framework-free).

Optimove's guidance is that clients implement their own safeguards and do not rely on the platform
alone: a campaign that targets far more customers than planned, or a reward far larger than meant,
must not turn into a flood of rewards. Three limits per campaign, each optional:

- ``max_audience``: a campaign whose ingested audience exceeds it is *held* (no approval sent, no
  claim validated or activated) until an operator releases it;
- ``max_rewards`` and ``max_reward_amount``: claims beyond them end rejected with a ``safeguard:``
  reason, never activated, never reported.

Where a value comes from, field by field: the campaign's own settings, else the rule whose promo
code pattern matches (highest priority, then the most specific pattern), else the environment.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

SAFEGUARD_PREFIX = "safeguard:"
MAX_AUDIENCE = "safeguard:max_audience"
MAX_REWARDS = "safeguard:max_rewards"
MAX_REWARD_AMOUNT = "safeguard:max_reward_amount"
SAFEGUARDS = (MAX_AUDIENCE, MAX_REWARDS, MAX_REWARD_AMOUNT)

PAUSE_SWITCH = "pause"
MODES = ("claim", "auto")

# Where a campaign's mode came from (campaigns.mode_from); a rule adds its pattern after a colon.
FROM_SETTINGS = "settings"
FROM_RULE = "rule"
FROM_ENVIRONMENT = "environment"

MAX_PATTERN_LENGTH = 128


class InvalidSetting(ValueError):
    """Raised for a setting no campaign can have (a negative limit, an unknown mode, a bad pattern)."""


@dataclass(frozen=True, slots=True)
class Safeguards:
    """The limits of one campaign; None is no limit."""

    max_audience: int | None = None
    max_rewards: int | None = None
    max_reward_amount: Decimal | None = None

    def over_audience(self, audience: int) -> bool:
        """Whether an audience of this size exceeds the maximum."""
        return self.max_audience is not None and audience > self.max_audience

    def as_json(self) -> dict[str, object]:
        """The limits as JSON values (amounts as strings, so no precision is lost)."""
        return {
            "max_audience": self.max_audience,
            "max_rewards": self.max_rewards,
            "max_reward_amount": None if self.max_reward_amount is None else str(self.max_reward_amount),
        }


def check_limits(
    max_audience: int | None, max_rewards: int | None, max_reward_amount: Decimal | None
) -> None:
    """Raise InvalidSetting for a negative limit or an amount that is not a finite number."""
    for name, value in (("max_audience", max_audience), ("max_rewards", max_rewards)):
        if value is not None and not 0 <= value < 2**63:
            raise InvalidSetting(f"{name} must be a whole number from 0 to 2^63-1")
    if max_reward_amount is not None and (
        not max_reward_amount.is_finite() or max_reward_amount < 0 or max_reward_amount >= Decimal(10) ** 14
    ):
        raise InvalidSetting("max_reward_amount must be a number from 0 to 10^14")


def check_mode(mode: str | None) -> None:
    """Raise InvalidSetting unless `mode` is None, claim or auto."""
    if mode is not None and mode not in MODES:
        raise InvalidSetting(f"mode must be one of {', '.join(MODES)}")


@dataclass(frozen=True, slots=True)
class SettingsRule:
    """Defaults for every campaign whose promo code matches `pattern` (fnmatch: *, ?, [seq])."""

    pattern: str
    priority: int = 0
    mode: str | None = None
    safeguards: Safeguards = field(default_factory=Safeguards)
    notes: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None

    def matches(self, promo_code: str) -> bool:
        """Whether the rule applies to a campaign with this promo code (case-sensitive)."""
        return fnmatch.fnmatchcase(promo_code, self.pattern)

    @property
    def specificity(self) -> int:
        """How specific the pattern is: the characters that are not wildcards."""
        return sum(1 for ch in self.pattern if ch not in "*?[]")


def check_pattern(pattern: str) -> None:
    """Raise InvalidSetting for an empty, too long or control-character pattern, or one with a '/'
    (a pattern travels in a URL path segment)."""
    if (
        not pattern
        or len(pattern) > MAX_PATTERN_LENGTH
        or "/" in pattern
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in pattern)
    ):
        raise InvalidSetting(f"a pattern is 1-{MAX_PATTERN_LENGTH} printable characters, without '/'")


def rule_for(rules: Iterable[SettingsRule], promo_code: str | None) -> SettingsRule | None:
    """The rule that applies to a promo code: the highest priority, then the most specific pattern
    (then the pattern itself, so the choice never depends on the order rules are read)."""
    if promo_code is None:
        return None
    matching = [rule for rule in rules if rule.matches(promo_code)]
    if not matching:
        return None
    return max(matching, key=lambda r: (r.priority, r.specificity, r.pattern))


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """What applies to a campaign now, and where each value came from."""

    mode: str
    mode_from: str
    safeguards: Safeguards
    sources: Mapping[str, str]  # safeguard name → settings, rule:<pattern> or environment


def effective_settings(
    *,
    own_mode: str | None,
    own: Safeguards,
    rule: SettingsRule | None,
    environment_mode: str,
    environment: Safeguards,
) -> EffectiveSettings:
    """Field by field: the campaign's own value, else the rule's, else the environment's."""
    rule_source = f"{FROM_RULE}:{rule.pattern}" if rule is not None else FROM_ENVIRONMENT
    rule_limits = rule.safeguards if rule is not None else Safeguards()
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name in ("max_audience", "max_rewards", "max_reward_amount"):
        for source, limits in (
            (FROM_SETTINGS, own),
            (rule_source, rule_limits),
            (FROM_ENVIRONMENT, environment),
        ):
            value = getattr(limits, name)
            if value is not None:
                values[name], sources[name] = value, source
                break
        else:
            values[name], sources[name] = None, FROM_ENVIRONMENT
    if own_mode is not None:
        mode, mode_from = own_mode, FROM_SETTINGS
    elif rule is not None and rule.mode is not None:
        mode, mode_from = rule.mode, rule_source
    else:
        mode, mode_from = environment_mode, FROM_ENVIRONMENT
    return EffectiveSettings(mode, mode_from, Safeguards(**values), sources)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RewardRequest:
    """A validated claim asking for a reward of `amount` (after scaling)."""

    claim_id: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Reservation:
    """Which claims may be granted within the limits, and which are rejected and why."""

    granted: list[RewardRequest] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # claim id → safeguard reason

    @property
    def amount(self) -> Decimal:
        """The total amount reserved for the granted claims."""
        return sum((r.amount for r in self.granted), Decimal(0))


def reserve_rewards(
    limits: Safeguards,
    *,
    rewards_reserved: int,
    amount_reserved: Decimal,
    requests: Sequence[RewardRequest],
) -> Reservation:
    """Take the claims in order while both limits hold; a claim over either is rejected with the
    reason of the limit it would cross (the count first). A claim too large for the amount left is
    rejected, and a smaller one after it may still fit."""
    reservation = Reservation()
    count, amount = rewards_reserved, amount_reserved
    for request in requests:
        if limits.max_rewards is not None and count + 1 > limits.max_rewards:
            reservation.rejected[request.claim_id] = MAX_REWARDS
        elif limits.max_reward_amount is not None and amount + request.amount > limits.max_reward_amount:
            reservation.rejected[request.claim_id] = MAX_REWARD_AMOUNT
        else:
            reservation.granted.append(request)
            count, amount = count + 1, amount + request.amount
    return reservation


@dataclass(frozen=True, slots=True)
class ServiceSwitch:
    """A global switch (the pause): on or off, who set it, when and why."""

    name: str
    on: bool
    by: str | None
    at: datetime | None
    reason: str | None


def safeguard_of(reason: str | None) -> str | None:
    """The safeguard a claim's reason names, or None when a safeguard did not stop it."""
    if reason is None or not reason.startswith(SAFEGUARD_PREFIX):
        return None
    name = reason[len(SAFEGUARD_PREFIX) :].split(":", 1)[0].split(" ", 1)[0]
    return SAFEGUARD_PREFIX + name
