"""Promotion tiers: which reward a customer gets, from its attributes and its session properties.

OptiPromo builds tiers on customer attributes (VIP level, ...) and session properties (e.g. the
deposit amount in this session) [C S16] but documents no rule language, so the simulator's tiers are
plain data (the control API posts them as JSON) with four operators: ``eq``, ``gte``, ``lte``, ``in``.
Values compare as numbers when both sides parse as numbers, because Optimove attribute values arrive as
strings (``"3"``) while rules and session properties naturally use numbers; otherwise as text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Amount = int | float

OPERATORS = ("eq", "gte", "lte", "in")
WHEN_SCOPES = ("attributes", "session")
TIER_KEYS = ("name", "when", "reward")

DEFAULT_REWARD_TYPE = "bonus_money"
# (VIPLevel, tier name, bonus amount); customers matching none get the standard tier.
DEFAULT_VIP_TIERS: tuple[tuple[str, str, Amount], ...] = (
    ("3", "platinum", 50),
    ("2", "gold", 25),
    ("1", "silver", 15),
)
DEFAULT_STANDARD_TIER: tuple[str, Amount] = ("standard", 10)
DEPOSIT_BOOST_PROPERTY = "deposit_amount"
DEPOSIT_BOOST_THRESHOLD = 100  # same currency units as the session property
DEPOSIT_BOOST_FACTOR = 2
DEPOSIT_BOOST_SUFFIX = "+deposit"


@dataclass(frozen=True)
class Predicate:
    """Checks on one named value; all must hold, and a missing (or null) value fails them."""

    name: str
    checks: tuple[tuple[str, Any], ...]

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether ``values[name]`` passes every check."""
        value = values.get(self.name)
        if value is None:
            return False
        return all(_check(operator, value, expected) for operator, expected in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The predicate as the control API takes it, e.g. ``{"gte": 2}``."""
        return {
            op: list(expected) if isinstance(expected, tuple) else expected for op, expected in self.checks
        }


@dataclass(frozen=True)
class Tier:
    """A named reward and the conditions a customer must meet to get it (empty conditions: everyone)."""

    name: str
    reward_type: str
    amount: Amount
    attributes: tuple[Predicate, ...] = ()
    session: tuple[Predicate, ...] = ()

    def matches(self, attributes: Mapping[str, str], session: Mapping[str, Any]) -> bool:
        """Whether a customer with these attributes, in this session, qualifies."""
        return all(p.holds(attributes) for p in self.attributes) and all(
            p.holds(session) for p in self.session
        )

    def effect(self) -> dict[str, Any]:
        """The validateCustomers ``effects`` entry for this tier (shape inferred, contract #13)."""
        return {"tier": self.name, "reward": {"type": self.reward_type, "amount": self.amount}}

    def to_json(self) -> dict[str, Any]:
        """The tier as the control API takes it."""
        when = {
            scope: {p.name: p.to_json() for p in predicates}
            for scope, predicates in (("attributes", self.attributes), ("session", self.session))
            if predicates
        }
        return {"name": self.name, "when": when, "reward": {"type": self.reward_type, "amount": self.amount}}


def select_tier(
    tiers: tuple[Tier, ...], attributes: Mapping[str, str], session: Mapping[str, Any]
) -> Tier | None:
    """The first tier the customer qualifies for, or None."""
    return next((tier for tier in tiers if tier.matches(attributes, session)), None)


def default_tiers() -> tuple[Tier, ...]:
    """Tiers by ``VIPLevel``, each preceded by its deposit-boosted twin (amount doubled)."""
    deposit = Predicate(DEPOSIT_BOOST_PROPERTY, (("gte", DEPOSIT_BOOST_THRESHOLD),))
    levels: list[tuple[tuple[Predicate, ...], str, Amount]] = [
        ((Predicate("VIPLevel", (("eq", level),)),), name, amount)
        for level, name, amount in DEFAULT_VIP_TIERS
    ]
    levels.append(((), *DEFAULT_STANDARD_TIER))
    tiers: list[Tier] = []
    for attributes, name, amount in levels:
        boosted_amount = amount * DEPOSIT_BOOST_FACTOR
        tiers.append(
            Tier(name + DEPOSIT_BOOST_SUFFIX, DEFAULT_REWARD_TYPE, boosted_amount, attributes, (deposit,))
        )
        tiers.append(Tier(name, DEFAULT_REWARD_TYPE, amount, attributes))
    return tuple(tiers)


def parse_tiers(raw: Any) -> tuple[Tier, ...]:
    """Tiers from the control API's JSON; raises ``ValueError`` naming the first bad field."""
    if not isinstance(raw, list):
        raise ValueError("tiers must be a list")
    return tuple(_parse_tier(f"tiers[{position}]", entry) for position, entry in enumerate(raw))


def _parse_tier(where: str, raw: Any) -> Tier:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(raw) - set(TIER_KEYS)
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}.name must be a non-empty string")
    when = raw.get("when", {})
    if not isinstance(when, dict) or set(when) - set(WHEN_SCOPES):
        raise ValueError(f"{where}.when must be an object with only {list(WHEN_SCOPES)}")
    reward = raw.get("reward")
    if not isinstance(reward, dict):
        raise ValueError(f"{where}.reward must be an object")
    reward_type, amount = reward.get("type"), reward.get("amount")
    if not isinstance(reward_type, str) or not reward_type:
        raise ValueError(f"{where}.reward.type must be a non-empty string")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount < math.inf:
        raise ValueError(f"{where}.reward.amount must be a non-negative number")
    return Tier(
        name=name,
        reward_type=reward_type,
        amount=amount,
        attributes=_parse_scope(f"{where}.when.attributes", when.get("attributes", {})),
        session=_parse_scope(f"{where}.when.session", when.get("session", {})),
    )


def _parse_scope(where: str, raw: Any) -> tuple[Predicate, ...]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object of name -> conditions")
    return tuple(_parse_predicate(f"{where}.{name}", name, checks) for name, checks in raw.items())


def _parse_predicate(where: str, name: str, raw: Any) -> Predicate:
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{where} must be a non-empty object of {list(OPERATORS)}")
    checks: list[tuple[str, Any]] = []
    for operator, expected in raw.items():
        if operator not in OPERATORS:
            raise ValueError(f"{where}: unknown operator {operator!r}; known: {list(OPERATORS)}")
        if operator == "in":
            if not isinstance(expected, list) or not expected or not all(map(_is_scalar, expected)):
                raise ValueError(f"{where}.in must be a non-empty list of strings or numbers")
            checks.append((operator, tuple(expected)))
        elif _is_scalar(expected):
            checks.append((operator, expected))
        else:
            raise ValueError(f"{where}.{operator} must be a string or a number")
    return Predicate(name, tuple(checks))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str) or _as_number(value) is not None


def _check(operator: str, actual: Any, expected: Any) -> bool:
    match operator:
        case "eq":
            return _compare(actual, expected) == 0
        case "gte":
            return _compare(actual, expected) >= 0
        case "lte":
            return _compare(actual, expected) <= 0
        case _:
            return any(_compare(actual, option) == 0 for option in expected)


def _compare(actual: Any, expected: Any) -> int:
    left, right = _as_number(actual), _as_number(expected)
    if left is None or right is None:
        left_text, right_text = _as_text(actual), _as_text(expected)
        return (left_text > right_text) - (left_text < right_text)
    return (left > right) - (left < right)


def _as_number(value: Any) -> float | None:
    """``value`` as a finite float: numbers (not booleans) and numeric strings; otherwise None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
