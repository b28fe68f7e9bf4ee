"""Injected failures, so the service's retry, idempotency and ambiguity handling can be proven.

A plan gives a probability per fault kind; each request to a targeted endpoint (Optimove's functions
and OptiPromo's validateCustomers, contract #16) draws once from a seeded generator (under a lock, so
a given seed and request order reproduce the same faults).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simulator.contract import SERVED_ENDPOINTS

DEFAULT_FAULT_TIMEOUT_SECONDS = 5.0
SERVER_ERROR_STATUSES = (500, 502, 503)
MILLISECONDS_PER_SECOND = 1000.0


class FaultKind(StrEnum):
    """What can go wrong with one request (``latency`` and ``ignore_skip`` combine with the others)."""

    LATENCY = "latency"
    SERVER_ERROR = "5xx"
    TOO_MANY_REQUESTS = "429"
    TIMEOUT = "timeout"
    RESET = "reset"
    APPLIED_LOST = "applied_lost"
    BARE_STRING = "bare_string"
    IGNORE_SKIP = "ignore_skip"


# The kinds drawn per request, in the order their probabilities are stacked.
_DRAWN_KINDS = (
    (FaultKind.SERVER_ERROR, "rate_5xx"),
    (FaultKind.TOO_MANY_REQUESTS, "rate_429"),
    (FaultKind.TIMEOUT, "rate_timeout"),
    (FaultKind.RESET, "rate_reset"),
    (FaultKind.APPLIED_LOST, "rate_applied_lost"),
    (FaultKind.BARE_STRING, "rate_bare_string"),
)


@dataclass(frozen=True)
class FaultPlan:
    """Probabilities per request; ``endpoints`` None targets every Optimove and OptiPromo endpoint."""

    latency_ms: float = 0.0
    rate_5xx: float = 0.0
    rate_429: float = 0.0
    rate_timeout: float = 0.0
    rate_reset: float = 0.0
    rate_applied_lost: float = 0.0
    rate_bare_string: float = 0.0
    timeout_seconds: float = DEFAULT_FAULT_TIMEOUT_SECONDS
    ignore_skip: bool = False
    endpoints: frozenset[str] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        rates = [getattr(self, name) for _, name in _DRAWN_KINDS]
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must each be in [0, 1] and sum to at most 1")
        if self.latency_ms < 0 or self.timeout_seconds < 0:
            raise ValueError("latency_ms and timeout_seconds must not be negative")
        unknown = (self.endpoints or frozenset()) - set(SERVED_ENDPOINTS)
        if unknown:
            raise ValueError(f"unknown endpoints {sorted(unknown)}; known: {list(SERVED_ENDPOINTS)}")

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultPlan:
        """Build from the control API body; raises ``ValueError`` on unknown keys or bad values."""
        known = set(cls.__dataclass_fields__)
        unknown_keys = set(body) - known
        if unknown_keys:
            raise ValueError(f"unknown fault settings {sorted(unknown_keys)}")
        values = dict(body)
        for name in known - {"ignore_skip", "endpoints", "seed"}:
            if name in values:
                value = values[name]
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError(f"{name} must be a number")
                values[name] = float(value)
        if not isinstance(values.get("ignore_skip", False), bool):
            raise ValueError("ignore_skip must be a boolean")
        if not isinstance(values.get("seed", 0), int):
            raise ValueError("seed must be an integer")
        endpoints = values.get("endpoints")
        if endpoints is not None:
            if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
                raise ValueError("endpoints must be null or a list of endpoint names")
            values["endpoints"] = frozenset(endpoints)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The plan as the control API shows it."""
        return {
            name: (sorted(value) if isinstance(value, frozenset) else value)
            for name, value in ((name, getattr(self, name)) for name in self.__dataclass_fields__)
        }


@dataclass(frozen=True)
class FaultDecision:
    """The faults one request gets: a delay, at most one drawn kind, and whether to ignore ``$skip``."""

    kind: FaultKind | None = None
    latency_seconds: float = 0.0
    error_status: int = SERVER_ERROR_STATUSES[0]
    timeout_seconds: float = 0.0
    ignore_skip: bool = False


NO_FAULT = FaultDecision()


@dataclass
class _Counts:
    by_kind: Counter[str] = field(default_factory=Counter)
    by_endpoint: dict[str, Counter[str]] = field(default_factory=dict)


class FaultInjector:
    """Holds the current plan, draws decisions, and counts every fault injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._rng = random.Random(self._plan.seed)
        self._counts = _Counts()

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        return self._plan

    def replace(self, plan: FaultPlan) -> None:
        """Put ``plan`` in force and restart its generator from ``plan.seed``."""
        with self._lock:
            self._plan = plan
            self._rng = random.Random(plan.seed)

    def clear(self) -> None:
        """Stop injecting faults (counts are kept)."""
        self.replace(FaultPlan())

    def reset_counts(self) -> None:
        """Forget how many faults were injected."""
        with self._lock:
            self._counts = _Counts()

    def decide(self, endpoint: str) -> FaultDecision:
        """Draw the faults for one request to ``endpoint`` and count them."""
        with self._lock:
            plan = self._plan
            if plan.endpoints is not None and endpoint not in plan.endpoints:
                return NO_FAULT
            draw = self._rng.random()
            kind: FaultKind | None = None
            threshold = 0.0
            for candidate, rate_name in _DRAWN_KINDS:
                threshold += getattr(plan, rate_name)
                if draw < threshold:
                    kind = candidate
                    break
            status = self._rng.choice(SERVER_ERROR_STATUSES)
            if plan.latency_ms > 0:
                self._count(FaultKind.LATENCY, endpoint)
            if kind is not None:
                self._count(kind, endpoint)
        return FaultDecision(
            kind=kind,
            latency_seconds=plan.latency_ms / MILLISECONDS_PER_SECOND,
            error_status=status,
            timeout_seconds=plan.timeout_seconds,
            ignore_skip=plan.ignore_skip,
        )

    def count(self, kind: FaultKind, endpoint: str) -> None:
        """Count a fault applied outside ``decide`` (``ignore_skip`` is only counted when it matters)."""
        with self._lock:
            self._count(kind, endpoint)

    def _count(self, kind: FaultKind, endpoint: str) -> None:
        self._counts.by_kind[kind.value] += 1
        self._counts.by_endpoint.setdefault(endpoint, Counter())[kind.value] += 1

    def counts(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Faults injected so far: by kind, and by endpoint then kind."""
        with self._lock:
            by_endpoint = {name: dict(counter) for name, counter in self._counts.by_endpoint.items()}
            return dict(self._counts.by_kind), by_endpoint
