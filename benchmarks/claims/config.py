"""What one `promobridge bench claims` run measures, and with which sizes and servers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.procfile import DEFAULT_WORKER_CONCURRENCY

SECTIONS = ("a", "b", "c", "d", "e", "f", "g")
SECTION_TITLES = {
    "a": "POST /v1/claims beside the ingress skeleton, with and without 50 long polls",
    "b": "end-to-end claims/s beside the bare no-op chain and the naive per-claim pipeline",
    "c": "claim → status delivered at half the maximum rate of (b)",
    "d": "claims/s under the shared rate limit beside the ceiling it allows",
    "e": "end-to-end claims/s with one worker process and with two",
    "f": "the HTTP reward activator against an operator endpoint answering in ~20 ms",
    "g": "the customers' trail: end-to-end claims/s with TRAIL_ENABLED on beside off (issue 11)",
}
DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


@dataclass(frozen=True)
class ClaimsBenchConfig:
    """Sizes, servers and the settings each section runs with."""

    claims: int = 3000  # per pipeline run (b, c, e, f; d takes at least this many)
    sections: tuple[str, ...] = SECTIONS
    worker_concurrency: int = DEFAULT_WORKER_CONCURRENCY
    admin_url: str = DEFAULT_ADMIN_URL
    redis_url: str = DEFAULT_REDIS_URL
    # (a) the ingress: how long each load run lasts, the load generator's connections, the long polls
    ingress_seconds: float = 10.0
    connections: int = 32
    long_polls: int = 50
    # (d) the shared budget and the contexts per validateCustomers call that put the ceiling near 100/s
    rate_limit: int = 50
    rate_window_seconds: float = 10.0
    max_contexts: int = 20
    status_batch_size: int = 10_000
    # (d) submits enough claims to keep the pipeline at the ceiling for this many windows
    budget_windows: int = 5
    # (f) the operator endpoint, its failing grants and the backoff of their retries
    operator_latency_ms: float = 20.0
    grant_failure_rate: float = 0.05
    retry_backoff_base_seconds: float = 0.5
    # (g) bursts with the trail off and on, alternating off, on, on, off, …: this many of each
    trail_rounds: int = 3
    final_timeout_seconds: float = 900.0
    prefer_wrk: bool = True  # False: the Python load generator even where wrk is installed

    def __post_init__(self) -> None:
        unknown = set(self.sections) - set(SECTIONS)
        if unknown or not self.sections:
            raise ValueError(f"sections must be among {','.join(SECTIONS)}, got {','.join(self.sections)}")

    @property
    def ceiling(self) -> float:
        """Claims/s the limit allows: a claim is 1/max_contexts of a validate call + 1/batch of a status."""
        return self.rate_limit / self.rate_window_seconds / self.calls_per_claim

    @property
    def calls_per_claim(self) -> float:
        """Optimove calls one claim costs when every call is full."""
        return 1 / self.max_contexts + 1 / self.status_batch_size

    @property
    def budget_claims(self) -> int:
        """Claims (d) submits: more than the ceiling can take in `budget_windows` windows."""
        return max(self.claims, math.ceil(self.ceiling * self.rate_window_seconds * self.budget_windows))

    def ceiling_formula(self) -> str:
        """The ceiling, worked out with this run's numbers."""
        return (
            f"ceiling = limit/window ÷ (1/max_contexts + 1/status_batch) = "
            f"{self.rate_limit}/{self.rate_window_seconds:g} ÷ (1/{self.max_contexts} + "
            f"1/{self.status_batch_size}) = {self.ceiling:,.1f} claims/s"
        )

    def ordered_sections(self) -> list[str]:
        """The chosen sections in the order they run (and print)."""
        return [s for s in SECTIONS if s in self.sections]
