"""Everything one simulator instance remembers, in memory, and the inspection view of it."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from simulator.campaigns import Campaign, CampaignRegistry, CampaignRequest
from simulator.config import SimulatorConfig
from simulator.faults import FaultInjector
from simulator.listeners import ListenerRegistry
from simulator.operator_grants import OperatorPlatform
from simulator.promotions import PromotionRegistry
from simulator.ratelimit import RatePolicy, SlidingWindowLimiter

RESET_OUTCOME = "reset"  # recorded instead of a status code when the answer was never sent


class TrafficStats:
    """Requests and answers per Optimove or OptiPromo endpoint, and how many the rate limiter refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._responses: dict[str, Counter[str]] = {}
        self._rate_limited = 0

    def count_request(self, endpoint: str) -> None:
        """A request arrived (before auth, limits or faults)."""
        with self._lock:
            self._requests[endpoint] += 1

    def count_response(self, endpoint: str, outcome: int | str) -> None:
        """What the request got: a status code, or ``RESET_OUTCOME``."""
        with self._lock:
            self._responses.setdefault(endpoint, Counter())[str(outcome)] += 1

    def count_rate_limited(self) -> None:
        """The limiter (not fault injection) answered 429."""
        with self._lock:
            self._rate_limited += 1

    def snapshot(self) -> dict[str, Any]:
        """Counts for ``GET /_sim/state``."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "responses": {name: dict(counts) for name, counts in self._responses.items()},
                "rate_limited": self._rate_limited,
            }


class SimulatorState:
    """The composition of one simulator's parts; tests running in-process may inspect it directly."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.campaigns = CampaignRegistry(config.seed)
        self.promotions = PromotionRegistry()
        self.listeners = ListenerRegistry()
        self.limiter = SlidingWindowLimiter(self.default_rate_policy())
        self.faults = FaultInjector()
        self.traffic = TrafficStats()
        self.operator = OperatorPlatform(config.operator_latency_ms)

    def default_rate_policy(self) -> RatePolicy:
        """The rate policy the configuration asks for."""
        return RatePolicy(
            enabled=self.config.rate_limit_enabled,
            limit=self.config.rate_limit,
            window_seconds=self.config.rate_window_seconds,
        )

    def create_campaign(self, request: CampaignRequest) -> Campaign:
        """Create a campaign and, unless its promo code has one, its default promotion (contract #17).

        Raises ``CampaignExistsError`` or ``ValueError`` like ``CampaignRegistry.create``.
        """
        campaign = self.campaigns.create(request)
        self.promotions.ensure_default(campaign.audience.spec.promo_code)
        return campaign

    def reset(self) -> None:
        """Back to a freshly started simulator."""
        self.campaigns.clear()
        self.promotions.clear()
        self.listeners.clear()
        self.limiter.reconfigure(self.default_rate_policy())
        self.limiter.clear()
        self.faults.clear()
        self.faults.reset_counts()
        self.traffic = TrafficStats()
        self.operator.reset()

    def snapshot(self) -> dict[str, Any]:
        """The body of ``GET /_sim/state``."""
        faults_by_kind, faults_by_endpoint = self.faults.counts()
        policy = self.limiter.policy
        return {
            **self.listeners.snapshot(),
            **self.traffic.snapshot(),
            "rate_limit": {
                "enabled": policy.enabled,
                "limit": policy.limit,
                "window_seconds": policy.window_seconds,
            },
            "faults_injected": faults_by_kind,
            "faults_injected_by_endpoint": faults_by_endpoint,
            "campaigns": {str(c.campaign_id): c.describe() for c in self.campaigns.all()},
            "promotions": self.promotions.snapshot(),
        }
