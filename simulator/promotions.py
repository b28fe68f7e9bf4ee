"""OptiPromo promotions: tiers, a publishing budget, and the reservations validateCustomers makes.

A successful validation RESERVES the promotion's budget for that customer (contract #15): the first
one takes an audience-cap slot and the reward amount; validating the same customer again answers the
reserved effect and takes nothing. That makes a client's retry (or an answer lost after the server
applied it) visible in the counters without ever over-spending the budget.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simulator.promotion_rules import Amount, Tier, default_tiers, parse_tiers, select_tier

PROMOTION_KEYS = ("promocode_id", "active", "audience_cap", "reward_budget", "max_contexts", "tiers")


class Ineligibility(StrEnum):
    """Why a context got no effects; the simulator's ``reason`` key (contract #14)."""

    NOT_ELIGIBLE = "not_eligible"
    AUDIENCE_CAP_REACHED = "audience_cap_reached"
    REWARD_BUDGET_EXHAUSTED = "reward_budget_exhausted"
    PROMOTION_INACTIVE = "promotion_inactive"


class UnknownPromotionError(KeyError):
    """No promotion has that promocode id."""


@dataclass(frozen=True)
class Promotion:
    """A promotion's rules; ``None`` limits mean unlimited (``max_contexts``: the configured default)."""

    promocode_id: str
    tiers: tuple[Tier, ...]
    active: bool = True
    audience_cap: int | None = None
    reward_budget: Amount | None = None
    max_contexts: int | None = None

    @classmethod
    def default(cls, promocode_id: str) -> Promotion:
        """What a campaign's promo code gets when nobody configured it: VIP tiers, no budget limit."""
        return cls(promocode_id=promocode_id, tiers=default_tiers())

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Promotion:
        """Build from ``POST /_sim/promotions``; omitted ``tiers`` are the default ones.

        Raises ``ValueError`` naming the first bad field.
        """
        unknown = set(body) - set(PROMOTION_KEYS)
        if unknown:
            raise ValueError(f"unknown promotion settings {sorted(unknown)}")
        promocode_id = body.get("promocode_id")
        if not isinstance(promocode_id, str) or not promocode_id:
            raise ValueError("promocode_id must be a non-empty string")
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise ValueError("active must be a boolean")
        tiers = parse_tiers(body["tiers"]) if "tiers" in body else default_tiers()
        return cls(
            promocode_id=promocode_id,
            tiers=tiers,
            active=active,
            audience_cap=_optional_count(body, "audience_cap", minimum=0),
            reward_budget=_optional_budget(body.get("reward_budget")),
            max_contexts=_optional_count(body, "max_contexts", minimum=1),
        )

    def to_json(self) -> dict[str, Any]:
        """The rules as the control API shows them."""
        return {
            "promocode_id": self.promocode_id,
            "active": self.active,
            "audience_cap": self.audience_cap,
            "reward_budget": self.reward_budget,
            "max_contexts": self.max_contexts,
            "tiers": [tier.to_json() for tier in self.tiers],
        }


@dataclass(frozen=True)
class ValidationContext:
    """One customer to validate; ``attributes`` None means it is in no campaign using the promo code."""

    customer_id: str
    session: Mapping[str, Any]
    attributes: Mapping[str, str] | None


@dataclass(frozen=True)
class Verdict:
    """One answered context: the tier granted (or reserved earlier), or why there is none."""

    customer_id: str
    tier: Tier | None
    reason: Ineligibility | None = None

    def to_json(self) -> dict[str, Any]:
        """The validateCustomers ``contexts`` entry (shape inferred, contract #13)."""
        if self.tier is None:
            return {"customerId": self.customer_id, "effects": [], "reason": str(self.reason)}
        return {"customerId": self.customer_id, "effects": [self.tier.effect()]}


@dataclass
class _CustomerRecord:
    times: int = 0
    reserved: Tier | None = None


@dataclass
class _PromotionLedger:
    """A promotion with its usage; only touched under the registry's lock."""

    promotion: Promotion
    records: dict[str, _CustomerRecord] = field(default_factory=dict)
    validate_calls: int = 0
    contexts_validated: int = 0
    customers_reserved: int = 0
    budget_used: Amount = 0
    validated_more_than_once: int = 0

    def validate(self, context: ValidationContext) -> Verdict:
        # Order (contract #15): inactive, membership, earlier reservation, tier, audience cap, budget.
        self.contexts_validated += 1
        record = self.records.setdefault(context.customer_id, _CustomerRecord())
        record.times += 1
        if record.times == 2:
            self.validated_more_than_once += 1
        promotion = self.promotion
        if not promotion.active:
            return Verdict(context.customer_id, None, Ineligibility.PROMOTION_INACTIVE)
        if context.attributes is None:
            return Verdict(context.customer_id, None, Ineligibility.NOT_ELIGIBLE)
        if record.reserved is not None:
            return Verdict(context.customer_id, record.reserved)
        tier = select_tier(promotion.tiers, context.attributes, context.session)
        if tier is None:
            return Verdict(context.customer_id, None, Ineligibility.NOT_ELIGIBLE)
        cap = promotion.audience_cap
        if cap is not None and self.customers_reserved >= cap:
            return Verdict(context.customer_id, None, Ineligibility.AUDIENCE_CAP_REACHED)
        budget = promotion.reward_budget
        if budget is not None and self.budget_used + tier.amount > budget:
            return Verdict(context.customer_id, None, Ineligibility.REWARD_BUDGET_EXHAUSTED)
        record.reserved = tier
        self.customers_reserved += 1
        self.budget_used += tier.amount
        return Verdict(context.customer_id, tier)

    def usage(self) -> dict[str, Any]:
        return {
            "customers_reserved": self.customers_reserved,
            "budget_used": self.budget_used,
            "validate_calls": self.validate_calls,
            "contexts_validated": self.contexts_validated,
            "customers_validated_more_than_once": self.validated_more_than_once,
        }


class PromotionRegistry:
    """All promotions by promocode id, with their usage; safe to use from request threads.

    One lock covers every promotion: a batch is at most a few hundred contexts, and holding the lock
    for a whole batch is what makes the audience-cap and budget checks exact under concurrency.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ledgers: dict[str, _PromotionLedger] = {}

    def ensure_default(self, promocode_id: str) -> None:
        """Create the default promotion for ``promocode_id`` unless it already has one."""
        with self._lock:
            if promocode_id not in self._ledgers:
                self._ledgers[promocode_id] = _PromotionLedger(Promotion.default(promocode_id))

    def put(self, promotion: Promotion) -> bool:
        """Create or replace a promotion (a replaced one's usage is forgotten); True if it was new."""
        with self._lock:
            created = promotion.promocode_id not in self._ledgers
            self._ledgers[promotion.promocode_id] = _PromotionLedger(promotion)
            return created

    def get(self, promocode_id: str) -> Promotion | None:
        """The promotion's rules, or None."""
        with self._lock:
            ledger = self._ledgers.get(promocode_id)
            return None if ledger is None else ledger.promotion

    def validate(self, promocode_id: str, contexts: list[ValidationContext]) -> list[Verdict]:
        """Validate (and reserve for) each context in order; raises ``UnknownPromotionError``."""
        with self._lock:
            ledger = self._ledger(promocode_id)
            ledger.validate_calls += 1
            return [ledger.validate(context) for context in contexts]

    def describe(self, promocode_id: str) -> dict[str, Any]:
        """Rules and usage; raises ``UnknownPromotionError``."""
        with self._lock:
            ledger = self._ledger(promocode_id)
            return {**ledger.promotion.to_json(), "usage": ledger.usage()}

    def validations(self, promocode_id: str) -> dict[str, dict[str, Any]]:
        """Per customer: how often it was validated and what it reserved; raises ``UnknownPromotionError``."""
        with self._lock:
            return {
                customer_id: {
                    "times": record.times,
                    "tier": None if record.reserved is None else record.reserved.name,
                    "amount": None if record.reserved is None else record.reserved.amount,
                }
                for customer_id, record in self._ledger(promocode_id).records.items()
            }

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The ``promotions`` entry of ``GET /_sim/state``."""
        with self._lock:
            return {
                promocode_id: {
                    "active": ledger.promotion.active,
                    "audience_cap": ledger.promotion.audience_cap,
                    "reward_budget": ledger.promotion.reward_budget,
                    **ledger.usage(),
                }
                for promocode_id, ledger in sorted(self._ledgers.items())
            }

    def clear(self) -> None:
        """Forget every promotion and its usage."""
        with self._lock:
            self._ledgers.clear()

    def _ledger(self, promocode_id: str) -> _PromotionLedger:
        ledger = self._ledgers.get(promocode_id)
        if ledger is None:
            raise UnknownPromotionError(promocode_id)
        return ledger


def _optional_count(body: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{key} must be null or an integer >= {minimum}")
    return value


def _optional_budget(value: Any) -> Amount | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < float("inf"):
        raise ValueError("reward_budget must be null or a non-negative number")
    return value
