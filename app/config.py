"""Typed settings: the one place that reads the environment.

Every value but the secrets has an embedded default so that `promobridge` runs with no
configuration at all (SQLite and a file-system Celery broker under ``PROMOBRIDGE_DATA_DIR``).
Production points ``DATABASE_URL`` at PostgreSQL and ``CELERY_BROKER_URL`` at Redis. No secret
has a usable default: ``app.security`` refuses to start a process without them (embedded mode
generates its own listener token). Values are passed down explicitly from here; nothing else
calls ``os.environ``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.claims import optipromo_reason
from app.errors import ConfigurationError

DEFAULT_DATA_DIR = ".promobridge"
DEFAULT_POLICIES = (
    "app.policies.consent:ConsentScrub,"
    "app.policies.fraud:FraudCheck,"
    "app.policies.segmentation:VipSegmentation"
)
CampaignMode = Literal["auto", "claim"]
# psycopg2 is the PostgreSQL driver promobridge installs and needs (ingest uses its COPY support).
POSTGRES_DRIVER_SCHEME = "postgresql+psycopg2"
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", POSTGRES_DRIVER_SCHEME})
_SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite"})
_DATABASE_URL_SHAPE = "postgresql://user:password@host:5432/name or sqlite:///path"


class SettingsError(ConfigurationError):
    """A setting in the environment (or .env) cannot be used; the one-line message names it."""


def normalize_database_url(url: str) -> str:
    """Run `postgres://` and `postgresql://` URLs (what platforms hand out) through psycopg2.

    Raises ValueError, naming the scheme or driver but never the URL (it holds the password), for
    anything promobridge cannot use: another database, another PostgreSQL driver, not a URL.
    """
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or not scheme:
        raise ValueError(f"is not a database URL (expected {_DATABASE_URL_SHAPE})")
    if scheme in _SQLITE_SCHEMES:
        return url
    if scheme in _POSTGRES_SCHEMES:
        try:
            urlsplit(url).port  # noqa: B018  (reading it validates it)
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        return f"{POSTGRES_DRIVER_SCHEME}://{rest}"
    database, _, driver = scheme.partition("+")
    if database in ("postgres", "postgresql"):
        raise ValueError(
            f"asks for the driver {driver!r}; promobridge talks to PostgreSQL through psycopg2 "
            "(write postgresql://…)"
        )
    raise ValueError(f"has the scheme {scheme!r}; promobridge runs on {_DATABASE_URL_SHAPE}")


# Web threads that long polls may never take: webhooks, the triggered gateway and probes need them.
WEB_THREADS_KEPT_FREE = 8


class Settings(BaseSettings):
    """Every knob of promobridge, read once from the environment (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path(DEFAULT_DATA_DIR), alias="PROMOBRIDGE_DATA_DIR")
    database_url: str = Field(default="", alias="DATABASE_URL")
    celery_broker_url: str = Field(default="", alias="CELERY_BROKER_URL")
    # Redis used for the shared Optimove rate limiter; defaults to the broker when it is Redis.
    redis_url: str = Field(default="", alias="REDIS_URL")

    optimove_api_url: str = Field(default="http://127.0.0.1:8900/current", alias="OPTIMOVE_API_URL")
    optipromo_api_url: str = Field(default="http://127.0.0.1:8900/optipromo", alias="OPTIPROMO_API_URL")
    optimove_api_key: str = Field(default="", alias="OPTIMOVE_API_KEY", repr=False)
    # OptiPromo's own key, when the tenant has one; empty: the Optimove key.
    optipromo_api_key: str = Field(default="", alias="OPTIPROMO_API_KEY", repr=False)
    optimove_timeout_seconds: float = Field(default=10.0, alias="OPTIMOVE_TIMEOUT_SECONDS", gt=0)
    optimove_rate_limit: int = Field(default=50, alias="OPTIMOVE_RATE_LIMIT", ge=1)
    optimove_rate_window_seconds: float = Field(default=10.0, alias="OPTIMOVE_RATE_WINDOW_SECONDS", gt=0)
    optimove_rate_limit_enabled: bool = Field(default=True, alias="OPTIMOVE_RATE_LIMIT_ENABLED")
    # Naive Optimove timestamps (ClearanceRequiredBy) are read in the tenant's time zone.
    optimove_timezone: str = Field(default="UTC", alias="OPTIMOVE_TIMEZONE")
    optimove_page_size: int = Field(default=10_000, alias="OPTIMOVE_PAGE_SIZE", ge=1, le=10_000)
    optimove_status_batch_size: int = Field(
        default=10_000, alias="OPTIMOVE_STATUS_BATCH_SIZE", ge=1, le=10_000
    )
    optimove_customer_attributes: str = Field(
        default="Consent;FraudFlag;VIPLevel;Country", alias="OPTIMOVE_CUSTOMER_ATTRIBUTES"
    )

    optipromo_max_contexts: int = Field(default=100, alias="OPTIPROMO_MAX_CONTEXTS", ge=1, le=1000)
    # More spellings of OptiPromo's not-eligible reasons, once the tenant knows its real codes:
    # "CODE:reason,…", each reason one of not_eligible, audience_cap_reached,
    # reward_budget_exhausted, promotion_inactive (the vendor's shape is undocumented).
    optipromo_reason_aliases: str = Field(default="", alias="OPTIPROMO_REASON_ALIASES")

    # Claims (flow C).
    reward_activator: Literal["wallet", "http"] = Field(default="wallet", alias="REWARD_ACTIVATOR")
    reward_activator_url: str = Field(default="", alias="REWARD_ACTIVATOR_URL")
    reward_activator_auth: str = Field(default="", alias="REWARD_ACTIVATOR_AUTH", repr=False)
    # Grants of one activation batch sent at once by the HTTP activator (its threads and connections).
    reward_activator_concurrency: int = Field(default=16, alias="REWARD_ACTIVATOR_CONCURRENCY", ge=1, le=256)
    reward_activator_connect_timeout_seconds: float = Field(
        default=3.0, alias="REWARD_ACTIVATOR_CONNECT_TIMEOUT_SECONDS", gt=0
    )
    reward_activator_read_timeout_seconds: float = Field(
        default=10.0, alias="REWARD_ACTIVATOR_READ_TIMEOUT_SECONDS", gt=0
    )
    reward_policies: str = Field(
        default="app.policies.rewards:VipMultiplier,app.policies.rewards:RewardCap",
        alias="PROMOBRIDGE_REWARD_POLICIES",
    )
    reward_policy_options: str = Field(default="{}", alias="PROMOBRIDGE_REWARD_POLICY_OPTIONS")
    claims_rate_limit_per_minute: int = Field(default=600, alias="CLAIMS_RATE_LIMIT_PER_MINUTE", ge=1)
    # How long a web process trusts a client key it proved valid without reading it again: a revoked
    # key is refused within this time (0: read every request).
    claims_key_cache_seconds: float = Field(default=5.0, alias="CLAIMS_KEY_CACHE_SECONDS", ge=0)
    claims_max_wait_seconds: float = Field(default=30.0, alias="CLAIMS_MAX_WAIT_SECONDS", gt=0)
    # Long polls (GET /v1/claims/<id>?wait=) each hold a web thread while they wait; per web process,
    # at most this many at once per client and in all (beyond either: 429 with Retry-After). The total
    # must leave WEB_THREADS_KEPT_FREE threads for webhooks, the gateway and probes.
    claims_max_long_polls_per_client: int = Field(default=16, alias="CLAIMS_MAX_LONG_POLLS_PER_CLIENT", ge=1)
    claims_max_long_polls: int = Field(default=48, alias="CLAIMS_MAX_LONG_POLLS", ge=0)
    # Retries after the first attempt; an activation grant is POSTed at most CLAIM_MAX_RETRIES + 1 times.
    claim_max_retries: int = Field(default=8, alias="CLAIM_MAX_RETRIES", ge=0)
    claim_stale_after_seconds: float = Field(default=60.0, alias="CLAIM_STALE_AFTER_SECONDS", gt=0)
    # `promobridge reconcile`: a rewarded customer's status still waiting this long is a discrepancy
    # (it normally goes within seconds; retries back off for a few minutes at most).
    reconcile_status_late_after_seconds: float = Field(
        default=900.0, alias="RECONCILE_STATUS_LATE_AFTER_SECONDS", gt=0
    )
    triggered_timeout_ms: int = Field(default=40, alias="TRIGGERED_TIMEOUT_MS", ge=1)
    # Record every customer's steps (`promobridge explain`); off only to measure what it costs.
    trail_enabled: bool = Field(default=True, alias="TRAIL_ENABLED")

    # The web process (gunicorn): worker processes, threads per process, and how long a client may
    # take to send a whole request (head, and a body up to WEBHOOK_MAX_BYTES) before it gets 408.
    web_concurrency: int = Field(default=2, alias="WEB_CONCURRENCY", ge=1)
    web_threads: int = Field(default=64, alias="WEB_THREADS", ge=1)
    web_request_read_timeout_seconds: float = Field(
        default=10.0, alias="WEB_REQUEST_READ_TIMEOUT_SECONDS", gt=0
    )
    # /healthz is answered by each worker's event loop: 503 once requests have waited this long for
    # a thread with none started (a wedged pool); a busy pool that keeps starting requests is alive.
    web_liveness_stall_seconds: float = Field(default=60.0, alias="WEB_LIVENESS_STALL_SECONDS", gt=0)
    # How long a thread may hold the GIL while others wait (CPython's default is 5 ms). Shorter, the
    # event loop and threads back from the database get it sooner while others parse and render.
    web_gil_switch_interval_ms: float = Field(default=1.0, alias="WEB_GIL_SWITCH_INTERVAL_MS", gt=0, le=100)

    flower_basic_auth: str = Field(default="", alias="FLOWER_BASIC_AUTH", repr=False)

    # The campaign console (/console). Its session cookies are signed with this key: 32+ random
    # characters, required outside the embedded mode (where one is generated into the data dir).
    console_secret_key: str = Field(default="", alias="CONSOLE_SECRET_KEY", repr=False)
    # The console is served over plain HTTP (a laptop, the demo): its cookie then goes without the
    # Secure flag. Off by default: browsers send a Secure cookie over HTTPS only.
    console_plain_http: bool = Field(default=False, alias="CONSOLE_PLAIN_HTTP")
    console_session_hours: float = Field(default=8.0, alias="CONSOLE_SESSION_HOURS", gt=0, le=24 * 30)
    # Consecutive failed sign-ins that lock a user, and for how long.
    console_signin_max_failures: int = Field(default=5, alias="CONSOLE_SIGNIN_MAX_FAILURES", ge=1)
    console_signin_lockout_seconds: float = Field(default=900.0, alias="CONSOLE_SIGNIN_LOCKOUT_SECONDS", gt=0)
    # Sign-in attempts per minute from one address, whatever the user name (then 429).
    console_signin_attempts_per_minute: int = Field(
        default=10, alias="CONSOLE_SIGNIN_ATTEMPTS_PER_MINUTE", ge=1
    )
    # How often an open console page refreshes its figures.
    console_refresh_seconds: float = Field(default=5.0, alias="CONSOLE_REFRESH_SECONDS", ge=1, le=300)

    public_base_url: str = Field(default="http://127.0.0.1:8000", alias="PROMOBRIDGE_PUBLIC_URL")
    # The secret path segment of the webhook URLs; empty: refused, or generated in embedded mode.
    listener_token: str = Field(default="", alias="LISTENER_TOKEN", repr=False)
    webhook_hmac_secret: str = Field(default="", alias="WEBHOOK_HMAC_SECRET", repr=False)
    webhook_signature_header: str = Field(default="X-Optimove-Signature", alias="WEBHOOK_SIGNATURE_HEADER")
    webhook_max_bytes: int = Field(default=64 * 1024, alias="WEBHOOK_MAX_BYTES", ge=1024)
    # A ClearanceRequiredBy further than this from now is refused (400): year 0001 or 9999 is a
    # forgery or a bug, never a campaign. Late deliveries of a claim-mode campaign stay welcome.
    webhook_deadline_max_age_seconds: float = Field(
        default=7 * 86_400, alias="WEBHOOK_DEADLINE_MAX_AGE_SECONDS", ge=0
    )
    webhook_deadline_max_ahead_seconds: float = Field(
        default=90 * 86_400, alias="WEBHOOK_DEADLINE_MAX_AHEAD_SECONDS", gt=0
    )
    # Triggered campaigns the gateway may act for without `promobridge campaigns set ID --triggered`:
    # ids and ranges, "7001,7100-7199". Any other campaign id is answered "allowed": false.
    triggered_campaigns: str = Field(default="", alias="TRIGGERED_CAMPAIGNS")
    # Media types the webhooks accept besides application/json, comma-separated ("text/plain"): an
    # escape hatch in case Optimove's calls declare another type (the contract does not say).
    webhook_extra_content_types: str = Field(default="", alias="WEBHOOK_EXTRA_CONTENT_TYPES")

    # claim: the advanced activation flow (a customer is reported once rewarded); auto: pre-clearance.
    default_campaign_mode: CampaignMode = Field(default="claim", alias="DEFAULT_CAMPAIGN_MODE")
    # Per-campaign overrides of the mode, "1359:claim,1360:auto".
    campaign_modes: str = Field(default="", alias="CAMPAIGN_MODES")
    # Safeguards every campaign gets unless its own settings or a rule say otherwise (empty: no limit).
    # A campaign whose ingested audience exceeds the maximum is held until released; claims beyond
    # the maximum rewards or total reward amount end rejected (safeguard:max_rewards, …).
    safeguard_max_audience: int | None = Field(default=None, alias="SAFEGUARD_MAX_AUDIENCE", ge=0)
    safeguard_max_rewards: int | None = Field(default=None, alias="SAFEGUARD_MAX_REWARDS", ge=0)
    safeguard_max_reward_amount: Decimal | None = Field(
        default=None, alias="SAFEGUARD_MAX_REWARD_AMOUNT", ge=0, lt=Decimal(10) ** 14, allow_inf_nan=False
    )
    policies: str = Field(default=DEFAULT_POLICIES, alias="PROMOBRIDGE_POLICIES")
    # JSON keyword options per policy (by class name or dotted path),
    # e.g. {"ConsentScrub": {"attribute": "OptIn"}}
    policy_options: str = Field(default="{}", alias="PROMOBRIDGE_POLICY_OPTIONS")
    vip_segments: str = Field(default="0:standard,1:silver,2:gold,3:platinum", alias="VIP_SEGMENTS")

    # Speculative page fan-out: pages dispatched ahead of the last full page seen.
    ingest_page_window: int = Field(default=4, alias="INGEST_PAGE_WINDOW", ge=1, le=64)
    # An inbox row or page task not finished this long after dispatch is dispatched again.
    sweep_stale_after_seconds: float = Field(default=120.0, alias="SWEEP_STALE_AFTER_SECONDS", gt=0)
    sweep_interval_seconds: float = Field(default=5.0, alias="SWEEP_INTERVAL_SECONDS", gt=0)
    relay_idle_sleep_seconds: float = Field(default=0.5, alias="RELAY_IDLE_SLEEP_SECONDS", gt=0)
    relay_lease_seconds: float = Field(default=60.0, alias="RELAY_LEASE_SECONDS", gt=0)
    # Hold status updates until the oldest waited this long or a full batch is ready: under a scarce
    # rate budget each UpdateCustomerPromotionStatus call then carries more customers (0: no wait).
    status_linger_seconds: float = Field(default=10.0, alias="STATUS_LINGER_SECONDS", ge=0)
    status_linger_when_budget_used: float = Field(
        default=0.5, alias="STATUS_LINGER_WHEN_BUDGET_USED", ge=0, le=1
    )
    validation_fill_when_budget_used: float = Field(
        default=0.2, alias="VALIDATION_FILL_WHEN_BUDGET_USED", ge=0, le=1
    )
    validation_fill_wait_seconds: float = Field(
        default=1.0, alias="VALIDATION_FILL_WAIT_SECONDS", ge=0, le=30
    )
    relay_max_attempts: int = Field(default=12, alias="RELAY_MAX_ATTEMPTS", ge=1)
    retry_backoff_base_seconds: float = Field(default=1.0, alias="RETRY_BACKOFF_BASE_SECONDS", gt=0)
    retry_backoff_max_seconds: float = Field(default=60.0, alias="RETRY_BACKOFF_MAX_SECONDS", gt=0)
    deadline_safety_margin_seconds: float = Field(default=300.0, alias="DEADLINE_SAFETY_MARGIN_SECONDS", ge=0)

    # Observability. PROMETHEUS_MULTIPROC_DIR is not a setting: prometheus-client reads it itself,
    # at import, so it must be in the environment before the process starts.
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_json: bool = Field(default=True, alias="LOG_JSON")
    # 0 = off. Serve this host's metrics from a worker pool / the relay when no web process does.
    worker_metrics_port: int = Field(default=0, alias="WORKER_METRICS_PORT", ge=0, le=65535)
    # Workers and the relay collect young objects every this many allocations (see app.gc_tuning).
    worker_gc_gen0_threshold: int = Field(default=50_000, alias="WORKER_GC_GEN0_THRESHOLD", ge=100)
    relay_metrics_port: int = Field(default=0, alias="RELAY_METRICS_PORT", ge=0, le=65535)

    @field_validator(
        "safeguard_max_audience", "safeguard_max_rewards", "safeguard_max_reward_amount", mode="before"
    )
    @classmethod
    def _empty_is_no_limit(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str) -> str:
        return normalize_database_url(url) if url else url

    @field_validator("optipromo_reason_aliases")
    @classmethod
    def _aliases_to_known_reasons(cls, raw: str) -> str:
        _parse_reason_aliases(raw)
        return raw

    @property
    def optipromo_reason_alias_map(self) -> dict[str, str]:
        """OPTIPROMO_REASON_ALIASES as the vendor's code → promobridge's reason."""
        return _parse_reason_aliases(self.optipromo_reason_aliases)

    @property
    def resolved_database_url(self) -> str:
        """The configured database, or an SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'promobridge.sqlite').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        """The configured broker, or Celery's file-system transport (no server needed)."""
        return self.celery_broker_url or "filesystem://"

    @property
    def is_embedded(self) -> bool:
        """One machine, no servers: SQLite and the file-system broker (what `promobridge demo` runs)."""
        return self.resolved_database_url.startswith("sqlite") and self.resolved_broker_url.startswith(
            "filesystem://"
        )

    @property
    def resolved_optipromo_api_key(self) -> str:
        """The key sent to OptiPromo: its own when set, else the Optimove key."""
        return self.optipromo_api_key or self.optimove_api_key

    @property
    def broker_folder(self) -> Path:
        """Where the embedded file-system broker keeps its messages."""
        return (self.data_dir / "broker").resolve()

    @property
    def rate_limiter_redis_url(self) -> str | None:
        """The Redis that holds the shared rate-limit ledger, or None to limit in-process."""
        if self.redis_url:
            return self.redis_url
        if self.resolved_broker_url.startswith(("redis://", "rediss://")):
            return self.resolved_broker_url
        return None

    @property
    def tenant_timezone(self) -> ZoneInfo:
        """The time zone naive Optimove timestamps are expressed in."""
        return ZoneInfo(self.optimove_timezone)

    @property
    def customer_attribute_names(self) -> tuple[str, ...]:
        """Customer attributes requested with every GetProcessedCampaignCustomers page."""
        return tuple(name.strip() for name in self.optimove_customer_attributes.split(";") if name.strip())

    @property
    def policy_paths(self) -> tuple[str, ...]:
        """The ordered dotted paths of the audience policies."""
        return tuple(path.strip() for path in self.policies.split(",") if path.strip())

    @property
    def campaign_mode_overrides(self) -> dict[int, CampaignMode]:
        """Campaign ids whose mode differs from the default."""
        overrides: dict[int, CampaignMode] = {}
        for part in filter(None, (p.strip() for p in self.campaign_modes.split(","))):
            campaign_id, _, mode = part.partition(":")
            if mode not in ("auto", "claim") or not campaign_id.strip().isdigit():
                raise ValueError(f"CAMPAIGN_MODES entry {part!r} is not of the form ID:auto or ID:claim")
            overrides[int(campaign_id)] = mode  # type: ignore[assignment]
        return overrides

    @property
    def policy_option_map(self) -> dict[str, dict[str, Any]]:
        """Keyword options for each policy, by class name or dotted path."""
        return _json_options(self.policy_options, "PROMOBRIDGE_POLICY_OPTIONS")

    @property
    def reward_policy_paths(self) -> tuple[str, ...]:
        """The ordered dotted paths of the reward-scaling policies."""
        return tuple(path.strip() for path in self.reward_policies.split(",") if path.strip())

    @property
    def reward_policy_option_map(self) -> dict[str, dict[str, Any]]:
        """Keyword options for each reward policy."""
        return _json_options(self.reward_policy_options, "PROMOBRIDGE_REWARD_POLICY_OPTIONS")

    @property
    def listener_url(self) -> str:
        """The EventTypeID 5 listener URL registered with Optimove (carries the secret token)."""
        return f"{self.public_base_url.rstrip('/')}/webhooks/optimove/{self.listener_token}"

    @property
    def triggered_gateway_url(self) -> str:
        """The triggered-campaign gateway URL registered with Optimove (carries the secret token)."""
        return f"{self.public_base_url.rstrip('/')}/webhooks/optimove/triggered/{self.listener_token}"

    @property
    def deadline_window(self) -> tuple[timedelta, timedelta]:
        """How far before and after now an event's ClearanceRequiredBy may be."""
        return (
            timedelta(seconds=self.webhook_deadline_max_age_seconds),
            timedelta(seconds=self.webhook_deadline_max_ahead_seconds),
        )

    @property
    def declared_triggered_campaigns(self) -> tuple[tuple[int, int], ...]:
        """Inclusive id ranges of the triggered campaigns declared in TRIGGERED_CAMPAIGNS."""
        ranges: list[tuple[int, int]] = []
        for part in filter(None, (p.strip() for p in self.triggered_campaigns.split(","))):
            low, _, high = part.partition("-")
            if not low.strip().isdigit() or (high and not high.strip().isdigit()):
                raise ValueError(f"TRIGGERED_CAMPAIGNS entry {part!r} is not an id or a range like 7100-7199")
            first, last = int(low), int(high or low)
            if first > last:
                raise ValueError(f"TRIGGERED_CAMPAIGNS range {part!r} runs backwards")
            ranges.append((first, last))
        return tuple(ranges)

    @property
    def long_poll_capacity_error(self) -> str | None:
        """Why CLAIMS_MAX_LONG_POLLS cannot be served by WEB_THREADS, or None when it can."""
        spare = self.web_threads - self.claims_max_long_polls
        if spare >= WEB_THREADS_KEPT_FREE:
            return None
        return (
            f"CLAIMS_MAX_LONG_POLLS={self.claims_max_long_polls} leaves {spare} of WEB_THREADS="
            f"{self.web_threads} for everything else; keep at least {WEB_THREADS_KEPT_FREE} free"
        )

    @property
    def webhook_extra_media_types(self) -> frozenset[str]:
        """WEBHOOK_EXTRA_CONTENT_TYPES as lower-case media types without parameters."""
        parts = (part.split(";")[0].strip().lower() for part in self.webhook_extra_content_types.split(","))
        return frozenset(part for part in parts if part)

    @property
    def console_cookie_secure(self) -> bool:
        """Whether the console's session cookie carries Secure (not over plain HTTP, nor embedded)."""
        return not (self.console_plain_http or self.is_embedded)

    @property
    def is_postgres(self) -> bool:
        """Whether the database is PostgreSQL (COPY and SKIP LOCKED are available)."""
        return self.resolved_database_url.startswith("postgresql")


def _json_options(raw: str, name: str) -> dict[str, dict[str, Any]]:
    try:
        options = json.loads(raw or "{}")
    except ValueError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ValueError(f"{name} must be a JSON object of objects")
    return options


def _parse_reason_aliases(raw: str) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        code, _, name = part.partition(":")
        if not code.strip() or not name.strip():
            raise ValueError(f"entry {part!r} is not of the form CODE:reason")
        aliases[code.strip()] = optipromo_reason(name)
    return aliases


_process_settings: Settings | None = None


def process_settings() -> Settings:
    """This process's settings, read from the environment once (every entry point uses this)."""
    global _process_settings
    if _process_settings is None:
        _process_settings = load_settings()
    return _process_settings


def forget_process_settings() -> None:
    """Read the environment again on the next `process_settings()` (a test changed it)."""
    global _process_settings
    _process_settings = None


def load_settings() -> Settings:
    """Read the settings from the environment; raises SettingsError naming what cannot be used."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_invalid_settings(exc)) from None


def describe_invalid_settings(error: ValidationError) -> str:
    """One line per invalid setting, by its variable name, without its value (it may be a secret)."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in problem["loc"]) or "settings"
        reason = problem["msg"].removeprefix("Value error, ")
        problems.append(f"{name} {reason}" if problem["type"] == "value_error" else f"{name}: {reason}")
    return "; ".join(problems)
