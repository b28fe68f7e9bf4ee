"""The composition root: the one place where real adapters are chosen and wired together.

Nothing here runs at import time; every process builds its own runtime after it has forked
(engines, sessions and Redis connections must not cross a fork).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import redis
from sqlalchemy import Engine

from app.adapters.db.schema import build_engine
from app.adapters.optimove.client import OptimoveClient
from app.adapters.ratelimit import (
    LocalSlidingWindowLimiter,
    RateLimiter,
    RedisSlidingWindowLimiter,
    UnlimitedLimiter,
    limiter_key_for,
)
from app.config import Settings
from app.domain.campaigns import ApprovalBudget, CampaignMode
from app.policies.base import PolicyPipeline, build_pipeline
from app.services.ingest import IngestConfig
from app.services.relay import RelayConfig
from app.services.sweeper import DeadlineWatch


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """Shared through Redis when one is configured; in-process in embedded mode."""
    if not settings.optimove_rate_limit_enabled:
        return UnlimitedLimiter()
    redis_url = settings.rate_limiter_redis_url
    if redis_url is None:
        return LocalSlidingWindowLimiter(
            limit=settings.optimove_rate_limit, window_seconds=settings.optimove_rate_window_seconds
        )
    return RedisSlidingWindowLimiter(
        redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5),
        key=limiter_key_for(settings.optimove_api_key),
        limit=settings.optimove_rate_limit,
        window_seconds=settings.optimove_rate_window_seconds,
    )


def build_optimove_client(settings: Settings, limiter: RateLimiter) -> OptimoveClient:
    """The Optimove client, with the shared limiter in front of every call."""
    return OptimoveClient(
        base_url=settings.optimove_api_url,
        api_key=settings.optimove_api_key,
        rate_limiter=limiter,
        timeout_seconds=settings.optimove_timeout_seconds,
    )


def build_policy_pipeline(settings: Settings) -> PolicyPipeline:
    """The configured audience policies, in order."""
    options = settings.policy_option_map
    options.setdefault("VipSegmentation", {"segments": settings.vip_segments})
    return build_pipeline(settings.policy_paths, options)


def ingest_config(settings: Settings) -> IngestConfig:
    """Ingest settings."""
    return IngestConfig(
        page_size=settings.optimove_page_size,
        page_window=settings.ingest_page_window,
        attributes=settings.customer_attribute_names,
        default_mode=CampaignMode(settings.default_campaign_mode),
        mode_overrides={k: CampaignMode(v) for k, v in settings.campaign_mode_overrides.items()},
        timezone=settings.tenant_timezone,
    )


def relay_config(settings: Settings) -> RelayConfig:
    """Relay settings."""
    return RelayConfig(
        batch_size=settings.optimove_status_batch_size,
        lease=timedelta(seconds=settings.relay_lease_seconds),
        max_attempts=settings.relay_max_attempts,
        backoff_base_seconds=settings.retry_backoff_base_seconds,
        backoff_max_seconds=settings.retry_backoff_max_seconds,
    )


def deadline_watch(settings: Settings) -> DeadlineWatch:
    """How deadline risk is judged."""
    return DeadlineWatch(
        budget=ApprovalBudget(settings.optimove_rate_limit, settings.optimove_rate_window_seconds),
        batch_size=settings.optimove_status_batch_size,
        safety_margin=timedelta(seconds=settings.deadline_safety_margin_seconds),
    )


@dataclass
class Runtime:
    """The wired components one process uses."""

    settings: Settings
    engine: Engine
    limiter: RateLimiter
    client: OptimoveClient
    pipeline: PolicyPipeline
    ingest: IngestConfig = field(init=False)
    relay: RelayConfig = field(init=False)
    deadlines: DeadlineWatch = field(init=False)

    def __post_init__(self) -> None:
        self.ingest = ingest_config(self.settings)
        self.relay = relay_config(self.settings)
        self.deadlines = deadline_watch(self.settings)

    def close(self) -> None:
        """Release connections."""
        self.client.close()
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Wire every component from the settings."""
    limiter = build_rate_limiter(settings)
    return Runtime(
        settings=settings,
        engine=build_engine(settings.resolved_database_url),
        limiter=limiter,
        client=build_optimove_client(settings, limiter),
        pipeline=build_policy_pipeline(settings),
    )
