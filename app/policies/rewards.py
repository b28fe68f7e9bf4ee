"""Reward scaling: small policies applied in order to the reward OptiPromo chose, before activation.

Configured like the audience policies, by dotted path (``PROMOBRIDGE_REWARD_POLICIES``) with JSON
options (``PROMOBRIDGE_REWARD_POLICY_OPTIONS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.domain.claims import Reward, RewardContext
from app.policies.base import PolicyConfigError, load_object

CENT = Decimal("0.01")


class RewardPolicy:
    """A reward rule; the default leaves the reward as it is."""

    def scale(self, reward: Reward, context: RewardContext) -> Reward:
        """Return the (possibly changed) reward."""
        return reward


class VipMultiplier(RewardPolicy):
    """Multiply the reward by the customer's segment factor (segments without a factor keep a factor of 1)."""

    def __init__(self, multipliers: Mapping[str, float | str] | None = None) -> None:
        chosen = multipliers if multipliers is not None else {"silver": 1.2, "gold": 1.5, "platinum": 2}
        self.multipliers = {segment: Decimal(str(factor)) for segment, factor in chosen.items()}
        if any(factor <= 0 for factor in self.multipliers.values()):
            raise ValueError("VIP multipliers must be positive")

    def scale(self, reward: Reward, context: RewardContext) -> Reward:
        """Apply the segment's factor, rounded to cents."""
        factor = self.multipliers.get(context.segment or "", Decimal(1))
        return Reward(reward.type, (reward.amount * factor).quantize(CENT, rounding=ROUND_HALF_UP))


class RewardCap(RewardPolicy):
    """Never grant more than `max_amount` (per reward type when `per_type` is given)."""

    def __init__(
        self, max_amount: float | str = 100, per_type: Mapping[str, float | str] | None = None
    ) -> None:
        self.max_amount = Decimal(str(max_amount))
        self.per_type = {kind: Decimal(str(cap)) for kind, cap in (per_type or {}).items()}

    def scale(self, reward: Reward, context: RewardContext) -> Reward:
        """Clip the amount to the cap."""
        cap = self.per_type.get(reward.type or "", self.max_amount)
        return Reward(reward.type, min(reward.amount, cap))


class RewardPipeline:
    """The reward policies, in order."""

    def __init__(self, policies: Sequence[RewardPolicy]) -> None:
        self.policies = tuple(policies)

    def scale(self, reward: Reward, context: RewardContext) -> Reward:
        """Run every policy; the amount never goes below zero."""
        for policy in self.policies:
            reward = policy.scale(reward, context)
        return Reward(reward.type, max(reward.amount, Decimal(0)))


def build_reward_pipeline(paths: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> RewardPipeline:
    """Instantiate the configured reward policies."""
    policies = []
    for path in paths:
        policy = load_object(
            path, options.get(path) or options.get(path.replace(":", ".").rsplit(".", 1)[-1])
        )
        if not callable(getattr(policy, "scale", None)):
            raise PolicyConfigError(f"reward policy {path!r} has no scale(reward, context) method")
        policies.append(policy)
    return RewardPipeline(policies)
