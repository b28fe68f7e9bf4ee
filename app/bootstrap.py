"""The composition root: the one place where real adapters are chosen and wired together.

Nothing here runs at import time; every process builds its own runtime after it has forked
(engines, sessions and Redis connections must not cross a fork).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import redis
from sqlalchemy import Engine

from app.adapters.activators import RewardActivator
from app.adapters.activators.http import HttpRewardActivator
from app.adapters.activators.wallet import WalletLedgerActivator
from app.adapters.db.schema import build_engine
from app.adapters.optimove.client import OptimoveClient
from app.adapters.optimove.optipromo import OptiPromoClient
from app.adapters.ratelimit import (
    LocalSlidingWindowLimiter,
    RateLimiter,
    RedisSlidingWindowLimiter,
    UnlimitedLimiter,
    limiter_key_for,
)
from app.config import Settings
from app.domain.backoff import Backoff
from app.domain.campaigns import ApprovalBudget, CampaignMode
from app.observability.metrics import record_optimove_call, record_ratelimit_wait, record_reward_grant
from app.policies.base import PolicyPipeline, build_pipeline
from app.policies.rewards import RewardPipeline, build_reward_pipeline
from app.services.claim_processing import ActivationConfig, ValidationConfig
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
            limit=settings.optimove_rate_limit,
            window_seconds=settings.optimove_rate_window_seconds,
            on_wait=record_ratelimit_wait,
        )
    return RedisSlidingWindowLimiter(
        redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5),
        key=limiter_key_for(settings.optimove_api_key),
        limit=settings.optimove_rate_limit,
        window_seconds=settings.optimove_rate_window_seconds,
        on_wait=record_ratelimit_wait,
    )


def build_optimove_client(settings: Settings, limiter: RateLimiter) -> OptimoveClient:
    """The Optimove client, with the shared limiter in front of every call."""
    return OptimoveClient(
        base_url=settings.optimove_api_url,
        api_key=settings.optimove_api_key,
        rate_limiter=limiter,
        timeout_seconds=settings.optimove_timeout_seconds,
        on_call=record_optimove_call,
    )


def build_optipromo_client(settings: Settings, limiter: RateLimiter) -> OptiPromoClient:
    """The OptiPromo client, with OPTIPROMO_API_KEY (else the Optimove key).

    It takes its slots from the Optimove key's budget even when it has a key of its own (Optimove
    counts per key): sharing one budget can only be slower, never produce a 429.
    """
    return OptiPromoClient(
        base_url=settings.optipromo_api_url,
        api_key=settings.resolved_optipromo_api_key,
        rate_limiter=limiter,
        timeout_seconds=settings.optimove_timeout_seconds,
        max_contexts=settings.optipromo_max_contexts,
        on_call=record_optimove_call,
    )


def build_activator(settings: Settings) -> RewardActivator:
    """The configured reward activator: the PostgreSQL wallet ledger or the operator's HTTP endpoint."""
    if settings.reward_activator == "http":
        if not settings.reward_activator_url:
            raise ValueError("REWARD_ACTIVATOR=http needs REWARD_ACTIVATOR_URL")
        return HttpRewardActivator(
            url=settings.reward_activator_url,
            auth_header=settings.reward_activator_auth or None,
            connect_timeout_seconds=settings.reward_activator_connect_timeout_seconds,
            read_timeout_seconds=settings.reward_activator_read_timeout_seconds,
            concurrency=settings.reward_activator_concurrency,
            on_grant=record_reward_grant,
        )
    return WalletLedgerActivator()


def build_reward_pipeline_from(settings: Settings) -> RewardPipeline:
    """The configured reward-scaling policies."""
    return build_reward_pipeline(settings.reward_policy_paths, settings.reward_policy_option_map)


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


def activation_config(settings: Settings) -> ActivationConfig:
    """Activation retries: CLAIM_MAX_RETRIES + 1 grant attempts per claim, with the shared backoff."""
    return ActivationConfig(
        max_attempts=settings.claim_max_retries + 1,
        backoff=Backoff(settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds),
    )


def relay_config(settings: Settings) -> RelayConfig:
    """Relay settings."""
    return RelayConfig(
        batch_size=settings.optimove_status_batch_size,
        lease=timedelta(seconds=settings.relay_lease_seconds),
        max_attempts=settings.relay_max_attempts,
        backoff_base_seconds=settings.retry_backoff_base_seconds,
        backoff_max_seconds=settings.retry_backoff_max_seconds,
        linger=timedelta(seconds=settings.status_linger_seconds),
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
    optipromo: OptiPromoClient
    activator: RewardActivator
    rewards: RewardPipeline
    ingest: IngestConfig = field(init=False)
    relay: RelayConfig = field(init=False)
    deadlines: DeadlineWatch = field(init=False)
    validation: ValidationConfig = field(init=False)
    activation: ActivationConfig = field(init=False)

    def __post_init__(self) -> None:
        self.ingest = ingest_config(self.settings)
        self.validation = ValidationConfig(
            max_contexts=self.settings.optipromo_max_contexts,
            lease=timedelta(seconds=self.settings.relay_lease_seconds),
        )
        self.activation = activation_config(self.settings)
        self.relay = relay_config(self.settings)
        self.deadlines = deadline_watch(self.settings)

    def close(self) -> None:
        """Release connections."""
        self.client.close()
        self.optipromo.close()
        self.activator.close()
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
        optipromo=build_optipromo_client(settings, limiter),
        activator=build_activator(settings),
        rewards=build_reward_pipeline_from(settings),
    )
