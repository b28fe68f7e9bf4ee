"""The composition root: the one place where real adapters are chosen and wired together.

Nothing here runs at import time; every process builds its own runtime after it has forked
(engines, sessions and Redis connections must not cross a fork).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property

import redis
from sqlalchemy import Engine

from app.adapters.activators.http import HttpRewardActivator
from app.adapters.activators.wallet import WalletLedgerActivator
from app.adapters.coordination import LocalCoordination, RedisCoordination
from app.adapters.db.dialect import build_engine
from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.adapters.dispatch import CeleryDispatcher, publisher_app
from app.adapters.optimove.client import OptimoveClient
from app.adapters.optimove.contract import OptimoveEventContract
from app.adapters.optimove.optipromo import OptiPromoClient
from app.adapters.passwords import Argon2Passwords
from app.adapters.ratelimit import (
    LocalSlidingWindowLimiter,
    RateLimiter,
    RedisSlidingWindowLimiter,
    UnlimitedLimiter,
    limiter_key_for,
)
from app.config import Settings, process_settings
from app.domain.backoff import Backoff
from app.domain.campaigns import ApprovalBudget, CampaignMode
from app.domain.safeguards import Safeguards
from app.observability.metrics import (
    record_optimove_call,
    record_ratelimit_wait,
    record_reward_grant,
    record_safeguard_trip,
)
from app.policies.base import PolicyPipeline, build_pipeline
from app.policies.rewards import RewardPipeline, build_reward_pipeline
from app.services.activation import ActivationConfig
from app.services.ingest import IngestConfig
from app.services.operator_control import ControlConfig
from app.services.ports import Coordination, Dispatcher, PasswordHasher, RewardActivator
from app.services.relay import RelayConfig
from app.services.sweeper import DeadlineWatch
from app.services.unit_of_work import UnitOfWorkFactory
from app.services.validation import ValidationConfig, ValidationDoorbell


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


def build_coordination(settings: Settings) -> Coordination:
    """Redis when there is one (failing open, fast); otherwise (embedded mode) this process only."""
    redis_url = settings.rate_limiter_redis_url
    return LocalCoordination() if redis_url is None else RedisCoordination.connect(redis_url)


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
        reason_aliases=settings.optipromo_reason_alias_map,
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


def backoff_from(settings: Settings) -> Backoff:
    """The one backoff every retry waits: RETRY_BACKOFF_BASE_SECONDS doubling up to the max."""
    return Backoff(settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds)


def control_config(settings: Settings) -> ControlConfig:
    """The environment's fallbacks of the run-time campaign settings, and the safeguard trip counter."""
    return ControlConfig(
        default_mode=CampaignMode(settings.default_campaign_mode),
        mode_overrides={k: CampaignMode(v) for k, v in settings.campaign_mode_overrides.items()},
        safeguards=Safeguards(
            settings.safeguard_max_audience,
            settings.safeguard_max_rewards,
            settings.safeguard_max_reward_amount,
        ),
        on_trip=record_safeguard_trip,
    )


def ingest_config(settings: Settings) -> IngestConfig:
    """Ingest settings."""
    control = control_config(settings)
    return IngestConfig(
        page_size=settings.optimove_page_size,
        page_window=settings.ingest_page_window,
        attributes=settings.customer_attribute_names,
        default_mode=control.default_mode,
        mode_overrides=dict(control.mode_overrides),
        safeguards=control.safeguards,
        on_trip=control.on_trip,
    )


def relay_config(settings: Settings, backoff: Backoff) -> RelayConfig:
    """Relay settings."""
    return RelayConfig(
        batch_size=settings.optimove_status_batch_size,
        lease=timedelta(seconds=settings.relay_lease_seconds),
        max_attempts=settings.relay_max_attempts,
        backoff=backoff,
        linger=timedelta(seconds=settings.status_linger_seconds),
        linger_when_budget_used=settings.status_linger_when_budget_used,
    )


def deadline_watch(settings: Settings) -> DeadlineWatch:
    """How deadline risk is judged."""
    return DeadlineWatch(
        budget=ApprovalBudget(settings.optimove_rate_limit, settings.optimove_rate_window_seconds),
        batch_size=settings.optimove_status_batch_size,
        safety_margin=timedelta(seconds=settings.deadline_safety_margin_seconds),
    )


class Container:
    """Everything one process uses, wired from the settings (the one composition root).

    The web app, the workers, the relay and every CLI command get their settings and services from
    a container. Clients are built on first use, so a process that never calls Optimove (the web)
    needs no Optimove key; `close()` releases what was built and disposes the engine.
    """

    def __init__(
        self, settings: Settings, *, dispatcher: Dispatcher | None = None, engine: Engine | None = None
    ):
        self.settings = settings
        self.engine = engine or build_engine(settings.resolved_database_url)
        self.uow: UnitOfWorkFactory = SqlAlchemyUnitOfWorkFactory(
            self.engine, trail_enabled=settings.trail_enabled
        )
        self._dispatcher = dispatcher
        self.backoff = backoff_from(settings)
        self.ingest = ingest_config(settings)
        self.validation = ValidationConfig(
            max_contexts=settings.optipromo_max_contexts,
            lease=timedelta(seconds=settings.relay_lease_seconds),
            max_attempts=settings.claim_max_retries + 1,
            fill_when_budget_used=settings.validation_fill_when_budget_used,
            fill_wait=timedelta(seconds=settings.validation_fill_wait_seconds),
        )
        self.control = control_config(settings)
        self.activation = ActivationConfig(
            max_attempts=settings.claim_max_retries + 1, backoff=self.backoff, control=self.control
        )
        self.relay = relay_config(settings, self.backoff)
        self.deadlines = deadline_watch(settings)
        self.events = OptimoveEventContract(settings.tenant_timezone)
        self._lock = threading.Lock()
        self._threads = threading.local()
        self._thread_clients: list[OptimoveClient] = []

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """The workers' doorbell (a Celery publisher unless one was handed in)."""
        return self._dispatcher or CeleryDispatcher(publisher_app())

    @cached_property
    def coordination(self) -> Coordination:
        """Locks and doorbells shared by every process through Redis (this process only, embedded)."""
        return build_coordination(self.settings)

    @cached_property
    def validation_doorbell(self) -> ValidationDoorbell:
        """Wakes the validator of a (campaign, promo code), one broker message per wake-up."""
        return ValidationDoorbell(self.coordination, self.dispatcher)

    @cached_property
    def limiter(self) -> RateLimiter:
        """Optimove's request budget, shared by every process through Redis."""
        return build_rate_limiter(self.settings)

    @property
    def optimove(self) -> OptimoveClient:
        """The Optimove client of the calling thread (a client holds one requests.Session, which is
        not thread-safe): a worker pool of threads fetches pages in one thread while another writes."""
        client: OptimoveClient | None = getattr(self._threads, "optimove", None)
        if client is None:
            client = build_optimove_client(self.settings, self.limiter)
            self._threads.optimove = client
            with self._lock:
                self._thread_clients.append(client)
        return client

    @cached_property
    def optipromo(self) -> OptiPromoClient:
        """The OptiPromo client."""
        return build_optipromo_client(self.settings, self.limiter)

    @cached_property
    def passwords(self) -> PasswordHasher:
        """How console passwords are hashed and checked (Argon2id)."""
        return Argon2Passwords()

    @cached_property
    def activator(self) -> RewardActivator:
        """The configured reward activator."""
        return build_activator(self.settings)

    @cached_property
    def pipeline(self) -> PolicyPipeline:
        """The audience policies."""
        return build_policy_pipeline(self.settings)

    @cached_property
    def rewards(self) -> RewardPipeline:
        """The reward-scaling policies."""
        return build_reward_pipeline_from(self.settings)

    def close(self) -> None:
        """Release what was built and dispose the engine."""
        for name in ("optipromo", "activator"):
            built = self.__dict__.get(name)
            if built is not None:
                built.close()
        with self._lock:
            clients, self._thread_clients = self._thread_clients, []
        for client in clients:
            client.close()
        self.engine.dispose()


def build_container(
    settings: Settings, *, dispatcher: Dispatcher | None = None, engine: Engine | None = None
) -> Container:
    """Wire every component from the settings (a test may hand in its own dispatcher and engine)."""
    return Container(settings, dispatcher=dispatcher, engine=engine)


_process_container: Container | None = None
_process_pid: int | None = None
_process_lock = threading.Lock()


def process_container(dispatcher_factory: Callable[[], Dispatcher] | None = None) -> Container:
    """This process's container, built on first use and again in a forked child (connections must
    not cross a fork); `dispatcher_factory` gives the dispatcher the first time (default: a publisher).
    """
    global _process_container, _process_pid
    with _process_lock:  # a worker pool of threads asks from several threads at once
        if _process_container is None or _process_pid != os.getpid():
            dispatcher = dispatcher_factory() if dispatcher_factory is not None else None
            _process_container = build_container(process_settings(), dispatcher=dispatcher)
            _process_pid = os.getpid()
        return _process_container


def close_process_container() -> None:
    """Release this process's container (at exit)."""
    global _process_container
    if _process_container is not None and _process_pid == os.getpid():
        _process_container.close()
    _process_container = None
