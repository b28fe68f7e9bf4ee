"""A stand-in for the operator's own reward platform: a grant ledger that honours ``Idempotency-Key``.

This is not Optimove. promobridge's HTTP reward activator POSTs each grant to the operator's
platform; the simulator serves such an endpoint (``POST /_operator/grants``) so that the activator,
the tests and the benchmarks have a real peer with the behaviour the README's "Reward activator
contract" asks of an operator:

- a new key is granted once and answered ``201 {"id": "tx-…"}``;
- the same key with the same body is answered what it was answered the first time, and nothing is
  granted again; the same key while its first request is still being processed gets ``409``; the
  same key with another body gets ``422``.

Faults are drawn per request from a seeded generator (like ``simulator.faults``): server errors
(nothing granted), slow answers (granted, late), "applied then answer lost" (granted, connection
reset), refusals (``422 {"reason": …}``, remembered for the key), a forced status for every request
(401, 403, a 302 redirect…: a misconfigured endpoint), and customers whose grants always fail.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_OPERATOR_LATENCY_MS = 20.0
DEFAULT_SLOW_MS = 2000.0
SERVER_ERROR_STATUSES = (500, 502, 503)
FORCED_STATUS_RANGE = range(200, 600)
REFUSAL_REASON = "refused by the simulated platform"
KEY_REUSED_REASON = "Idempotency-Key reused with another body"
MILLISECONDS_PER_SECOND = 1000.0


class GrantFault(StrEnum):
    """What one grant request gets besides the latency."""

    SERVER_ERROR = "5xx"
    SLOW = "slow"
    APPLIED_LOST = "applied_lost"
    REFUSE = "refuse"


# The kinds drawn per request, in the order their probabilities are stacked.
_DRAWN = (
    (GrantFault.SERVER_ERROR, "rate_5xx"),
    (GrantFault.SLOW, "rate_slow"),
    (GrantFault.APPLIED_LOST, "rate_applied_lost"),
    (GrantFault.REFUSE, "rate_refuse"),
)
_NUMBERS = ("latency_ms", "slow_ms", *(name for _, name in _DRAWN))


@dataclass(frozen=True)
class OperatorPlan:
    """How the simulated platform answers: latency, fault rates and switches (all off by default)."""

    latency_ms: float = DEFAULT_OPERATOR_LATENCY_MS
    rate_5xx: float = 0.0
    rate_slow: float = 0.0
    rate_applied_lost: float = 0.0
    rate_refuse: float = 0.0
    slow_ms: float = DEFAULT_SLOW_MS
    # Answer every grant request with this status, granting nothing (302 comes with a Location).
    force_status: int | None = None
    # Sent as Retry-After (seconds) with injected server errors and forced statuses.
    retry_after_seconds: int | None = None
    # Grants for these customers always get a server error: a grant that never succeeds.
    failing_customers: frozenset[str] = frozenset()
    seed: int = 0

    def __post_init__(self) -> None:
        rates = [getattr(self, name) for _, name in _DRAWN]
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must each be in [0, 1] and sum to at most 1")
        if self.latency_ms < 0 or self.slow_ms < 0:
            raise ValueError("latency_ms and slow_ms must not be negative")
        if self.force_status is not None and self.force_status not in FORCED_STATUS_RANGE:
            raise ValueError("force_status must be null or an HTTP status between 200 and 599")
        if self.retry_after_seconds is not None and self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must not be negative")

    @classmethod
    def from_json(cls, body: dict[str, Any], *, latency_ms: float) -> OperatorPlan:
        """Build from the control API body (``latency_ms`` when it names none); ``ValueError`` if bad."""
        unknown = set(body) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown operator settings {sorted(unknown)}")
        values: dict[str, Any] = {"latency_ms": latency_ms, **body}
        for name in _NUMBERS:
            if not _is_number(values.get(name, 0)):
                raise ValueError(f"{name} must be a number")
            if name in values:
                values[name] = float(values[name])
        for name in ("force_status", "retry_after_seconds"):
            if values.get(name) is not None and not _is_int(values[name]):
                raise ValueError(f"{name} must be null or an integer")
        if not _is_int(values.get("seed", 0)):
            raise ValueError("seed must be an integer")
        customers = values.get("failing_customers", [])
        if not isinstance(customers, list) or not all(isinstance(c, str) for c in customers):
            raise ValueError("failing_customers must be a list of customer ids")
        values["failing_customers"] = frozenset(customers)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The plan as the control API shows it."""
        shown = {name: getattr(self, name) for name in self.__dataclass_fields__}
        shown["failing_customers"] = sorted(self.failing_customers)
        return shown


@dataclass(frozen=True)
class Answer:
    """What the platform answers one request: a status, a JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _KeyRecord:
    """Everything the platform knows about one Idempotency-Key."""

    body_hash: str
    customer_id: str | None
    in_flight: bool = True
    answer: Answer | None = None  # the remembered final answer (granted or refused)
    granted: int = 0
    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "attempts": self.attempts,
            "granted": self.granted,
            "answers": dict(self.answers),
        }


class OperatorPlatform:
    """The grant ledger, keyed by Idempotency-Key, and the fault plan; safe across request threads."""

    def __init__(self, latency_ms: float = DEFAULT_OPERATOR_LATENCY_MS) -> None:
        self._lock = threading.Lock()
        self._default_latency_ms = latency_ms
        self._plan = OperatorPlan(latency_ms=latency_ms)
        self._rng = random.Random(self._plan.seed)
        self._keys: dict[str, _KeyRecord] = {}
        self._transactions = 0
        self._bad_requests = 0

    @property
    def plan(self) -> OperatorPlan:
        """The plan in force."""
        return self._plan

    @property
    def default_latency_ms(self) -> float:
        """The latency a plan that names none gets."""
        return self._default_latency_ms

    def replace(self, plan: OperatorPlan) -> None:
        """Put ``plan`` in force and restart its generator from ``plan.seed``."""
        with self._lock:
            self._plan = plan
            self._rng = random.Random(plan.seed)

    def reset(self) -> None:
        """Forget every grant and go back to the default plan."""
        with self._lock:
            self._plan = OperatorPlan(latency_ms=self._default_latency_ms)
            self._rng = random.Random(self._plan.seed)
            self._keys.clear()
            self._transactions = 0
            self._bad_requests = 0

    def count_bad_request(self) -> None:
        """A request without an Idempotency-Key or a JSON object body (answered 400)."""
        with self._lock:
            self._bad_requests += 1

    def note_attempt(self, key: str, body: dict[str, Any]) -> None:
        """Count an attempt answered without touching the ledger (a forced status)."""
        with self._lock:
            record = self._keys.get(key)
            if record is None:
                record = self._new_record(key, body)
                record.in_flight = False
            record.attempts += 1

    def admit(self, key: str, body: dict[str, Any]) -> Answer | None:
        """Count the attempt; the answer for a repeated or in-flight key, or None: process it as new.

        None marks the key in flight; the caller then ends it with ``grant``, ``refuse`` or ``release``.
        """
        with self._lock:
            record = self._keys.get(key)
            if record is None:
                self._new_record(key, body).attempts += 1
                return None
            record.attempts += 1
            if record.body_hash != _canonical_hash(body):
                return Answer(422, {"reason": KEY_REUSED_REASON})
            if record.in_flight:
                return Answer(409, {"error": "a request with this Idempotency-Key is in progress"})
            if record.answer is not None:
                return record.answer
            record.in_flight = True  # earlier attempts all failed: this one is processed as new
            return None

    def draw(self, customer_id: str | None) -> GrantFault | None:
        """The fault this request gets (failing customers always get a server error)."""
        with self._lock:
            plan = self._plan
            if customer_id is not None and customer_id in plan.failing_customers:
                return GrantFault.SERVER_ERROR
            draw = self._rng.random()
            threshold = 0.0
            for fault, rate_name in _DRAWN:
                threshold += getattr(plan, rate_name)
                if draw < threshold:
                    return fault
            return None

    def server_error_status(self) -> int:
        """One of the injected 5xx statuses, drawn from the plan's generator."""
        with self._lock:
            return self._rng.choice(SERVER_ERROR_STATUSES)

    def grant(self, key: str) -> Answer:
        """Record the grant for ``key`` (once) and remember its answer for replays."""
        with self._lock:
            record = self._keys[key]
            if record.answer is None:
                self._transactions += 1
                record.granted += 1
                record.answer = Answer(201, {"id": f"tx-{self._transactions}", "status": "granted"})
            record.in_flight = False
            return record.answer

    def refuse(self, key: str) -> Answer:
        """Refuse ``key`` for good: its replays get the same refusal."""
        with self._lock:
            record = self._keys[key]
            if record.answer is None:
                record.answer = Answer(422, {"reason": REFUSAL_REASON})
            record.in_flight = False
            return record.answer

    def release(self, key: str) -> None:
        """The request ended without a final answer (server error): the key may be processed again."""
        with self._lock:
            record = self._keys.get(key)
            if record is not None:
                record.in_flight = False

    def count_answer(self, key: str, status: int | str) -> None:
        """Remember what a request for ``key`` was answered (``"reset"`` when the answer was lost)."""
        with self._lock:
            record = self._keys.get(key)
            if record is not None:
                record.answers[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        """The inspection view: per key, attempts and grants; and the totals to check at a glance."""
        with self._lock:
            keys = {key: record.to_json() for key, record in self._keys.items()}
            per_customer: Counter[str] = Counter()
            for record in self._keys.values():
                if record.customer_id is not None:
                    per_customer[record.customer_id] += record.granted
            summary = {
                "keys": len(keys),
                "attempts": sum(r["attempts"] for r in keys.values()),
                "granted": sum(r["granted"] for r in keys.values()),
                "max_granted_per_key": max((r["granted"] for r in keys.values()), default=0),
                "max_granted_per_customer": max(per_customer.values(), default=0),
                "max_attempts_per_key": max((r["attempts"] for r in keys.values()), default=0),
                "bad_requests": self._bad_requests,
            }
        return {"keys": keys, "summary": summary}

    def _new_record(self, key: str, body: dict[str, Any]) -> _KeyRecord:
        customer = body.get("customer_id")
        record = _KeyRecord(_canonical_hash(body), customer if isinstance(customer, str) else None)
        self._keys[key] = record
        return record


def _canonical_hash(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
