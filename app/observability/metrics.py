"""Prometheus metrics: the counters product code increments and the registry ``/metrics`` serves.

gunicorn workers and Celery prefork children are separate processes, each with its own copy of
every counter. With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment *before* the process
starts (prometheus-client picks its storage at import time), every process writes its values to
files in that directory and a scrape sums them with ``MultiProcessCollector``. Without it, values
live in memory and the default registry is served. Because a web process and the workers on the
same host can share the directory, the web's ``/metrics`` then shows the workers' counters too;
workers on other hosts serve their own with ``start_worker_metrics_server``. Files are named by
host and pid, not pid alone, so containers (each with its own pid numbering) can share a volume.

The ``record_*`` functions are what product code and the adapters' hooks call. They never raise:
a metrics problem must not fail a webhook, a claim or an Optimove call. Label values outside a
known set become ``other`` so that no caller can blow up the number of series.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.registry import Collector

__all__ = [
    "CLAIM_OUTCOMES",
    "REJECTION_REASONS",
    "WEBHOOK_KINDS",
    "mark_process_dead",
    "multiprocess_dir",
    "record_claim_submission",
    "record_gateway_decision",
    "record_optimove_call",
    "record_ratelimit_wait",
    "record_reward_grant",
    "record_safeguard_trip",
    "record_webhook",
    "record_webhook_conflict",
    "record_webhook_rejected",
    "scrape_registry",
    "start_worker_metrics_server",
    "webhook_rejection_reason",
]

log = logging.getLogger(__name__)

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"
WEBHOOK_KINDS = frozenset({"scheduled", "cancel", "triggered"})
REJECTION_REASONS = frozenset({"unauthorized", "malformed", "too_large", "unsupported"})
CLAIM_OUTCOMES = frozenset({"created", "existing", "rejected_at_once", "conflict"})
GRANT_OUTCOMES = frozenset({"granted", "refused", "retry", "misconfigured"})
MAX_LABEL_CHARS = 80  # endpoints and outcomes come from our own code; this only bounds a bug
# Optimove calls take tens of milliseconds to a few seconds; the client's read timeout is 10 s.
OPTIMOVE_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# How the webhook views answer each rejection (see README, flow A step 1).
_REJECTION_BY_STATUS = {
    400: "malformed",
    401: "unauthorized",
    413: "too_large",
    415: "malformed",  # a body not declared as JSON
    422: "unsupported",
}
# "_" separates the parts of a multiprocess file name; prometheus-client splits on it.
_HOST = socket.gethostname().replace("_", "-") or "host"


def _process_identifier() -> str:
    return f"{_HOST}-{os.getpid()}"


def _choose_storage() -> None:
    """Files named by host and pid in the multiprocess directory, created if missing.

    prometheus-client would otherwise fail while the counters below are created, that is, while
    this module is imported, and take the whole process down over a metrics setting. A directory
    that cannot be used (or an empty variable) falls back to in-memory values, with a warning.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        return
    directory = os.environ.get(MULTIPROC_DIR_ENV, "")
    try:
        if not directory:
            raise OSError(f"{MULTIPROC_DIR_ENV} is empty")
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        log.warning("metrics: %s unusable (%s); metrics stay in this process", MULTIPROC_DIR_ENV, exc)
        values.ValueClass = values.MutexValue
        return
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)  # type: ignore[no-untyped-call]


_choose_storage()  # before any metric below is created: each picks up values.ValueClass then

WEBHOOKS_RECEIVED = Counter(
    "promobridge_webhooks_received", "Optimove webhooks accepted (new or duplicate), by kind.", ["kind"]
)
WEBHOOKS_REJECTED = Counter(
    "promobridge_webhooks_rejected", "Optimove webhooks answered with a 4xx, by reason.", ["reason"]
)
OPTIMOVE_CALLS = Counter(
    "promobridge_optimove_calls",
    "HTTP attempts to Optimove/OptiPromo, by endpoint and outcome.",
    ["endpoint", "outcome"],
)
OPTIMOVE_CALL_SECONDS = Histogram(
    "promobridge_optimove_call_seconds",
    "Duration of one HTTP attempt to Optimove/OptiPromo (rate-limiter wait excluded).",
    ["endpoint"],
    buckets=OPTIMOVE_CALL_BUCKETS,
)
RATELIMIT_WAITS = Counter(
    "promobridge_ratelimit_waits", "Optimove rate-limiter acquisitions that had to wait for a slot."
)
RATELIMIT_WAIT_SECONDS = Counter(
    "promobridge_ratelimit_wait_seconds", "Seconds spent waiting for Optimove rate-limiter slots."
)
WEBHOOK_CONFLICTS = Counter(
    "promobridge_webhook_conflicts",
    "Optimove events differing from the first of their EventTypeID and CampaignID (stored, not acted on).",
)
GATEWAY_DECISIONS = Counter(
    "promobridge_gateway_decisions",
    "Triggered-gateway answers, by outcome (allowed, or why not).",
    ["outcome"],
)
CLAIMS_SUBMITTED = Counter(
    "promobridge_claims_submitted", "Claim submissions over HTTP, by outcome.", ["outcome"]
)
REWARD_GRANTS = Counter(
    "promobridge_reward_grants",
    "Attempts to grant a reward on the operator's platform (HTTP activator), by outcome: "
    "granted, refused, retry, misconfigured (alert on any misconfigured).",
    ["outcome"],
)
SAFEGUARD_TRIPS = Counter(
    "promobridge_safeguard_trips",
    "Safeguard trips, by safeguard: campaigns held over max_audience, claims rejected over "
    "max_rewards or max_reward_amount.",
    ["safeguard"],
)
SAFEGUARD_NAMES = frozenset({"max_audience", "max_rewards", "max_reward_amount"})
REWARD_GRANT_SECONDS = Histogram(
    "promobridge_reward_grant_seconds",
    "Duration of one attempt to grant a reward on the operator's platform.",
    buckets=OPTIMOVE_CALL_BUCKETS,
)


def _bounded(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else OTHER


def _label(value: str) -> str:
    return str(value)[:MAX_LABEL_CHARS] or OTHER


def record_webhook(kind: str) -> None:
    """Count an accepted webhook: ``scheduled`` (EventTypeID 5), ``cancel`` (4) or ``triggered``."""
    try:
        WEBHOOKS_RECEIVED.labels(kind=_bounded(kind, WEBHOOK_KINDS)).inc()
    except Exception:
        log.debug("metrics: record_webhook failed", exc_info=True)


def record_webhook_rejected(reason: str) -> None:
    """Count a rejected webhook: ``unauthorized``, ``malformed``, ``too_large`` or ``unsupported``."""
    try:
        WEBHOOKS_REJECTED.labels(reason=_bounded(reason, REJECTION_REASONS)).inc()
    except Exception:
        log.debug("metrics: record_webhook_rejected failed", exc_info=True)


def record_webhook_conflict() -> None:
    """Count an event that differs from the first one of its kind (a forgery, or a changed campaign)."""
    try:
        WEBHOOK_CONFLICTS.inc()
    except Exception:
        log.debug("metrics: record_webhook_conflict failed", exc_info=True)


GATEWAY_OUTCOMES = frozenset(
    {"allowed", "scrubbed", "already_scrubbed", "unknown_campaign", "not_triggered", "not_live", "error"}
)


def record_gateway_decision(outcome: str) -> None:
    """Count a triggered-gateway answer: ``allowed`` or the reason it was not."""
    try:
        GATEWAY_DECISIONS.labels(outcome=_bounded(outcome, GATEWAY_OUTCOMES)).inc()
    except Exception:
        log.debug("metrics: record_gateway_decision failed", exc_info=True)


def record_optimove_call(endpoint: str, outcome: str, seconds: float) -> None:
    """The Optimove/OptiPromo clients' ``on_call`` hook: one HTTP attempt and how long it took."""
    try:
        endpoint = _label(endpoint)
        OPTIMOVE_CALLS.labels(endpoint=endpoint, outcome=_label(outcome)).inc()
        OPTIMOVE_CALL_SECONDS.labels(endpoint=endpoint).observe(max(0.0, seconds))
    except Exception:
        log.debug("metrics: record_optimove_call failed", exc_info=True)


def record_ratelimit_wait(seconds: float) -> None:
    """The rate limiters' ``on_wait`` hook: one acquisition that waited `seconds` for a slot."""
    try:
        RATELIMIT_WAITS.inc()
        RATELIMIT_WAIT_SECONDS.inc(max(0.0, seconds))
    except Exception:
        log.debug("metrics: record_ratelimit_wait failed", exc_info=True)


def webhook_rejection_reason(status: int) -> str | None:
    """The rejection reason a webhook response's status stands for (None: not a rejection)."""
    return _REJECTION_BY_STATUS.get(status)


def record_claim_submission(outcome: str) -> None:
    """Count a claim submission: ``created``, ``existing``, ``rejected_at_once`` or ``conflict``."""
    try:
        CLAIMS_SUBMITTED.labels(outcome=_bounded(outcome, CLAIM_OUTCOMES)).inc()
    except Exception:
        log.debug("metrics: record_claim_submission failed", exc_info=True)


def record_reward_grant(outcome: str, seconds: float) -> None:
    """The HTTP reward activator's ``on_grant`` hook: one attempt, its outcome and how long it took."""
    try:
        REWARD_GRANTS.labels(outcome=_bounded(outcome, GRANT_OUTCOMES)).inc()
        REWARD_GRANT_SECONDS.observe(max(0.0, seconds))
    except Exception:
        log.debug("metrics: record_reward_grant failed", exc_info=True)


def record_safeguard_trip(safeguard: str, count: int) -> None:
    """The safeguards' ``on_trip`` hook: `count` trips of one safeguard ("safeguard:max_rewards")."""
    try:
        name = _bounded(safeguard.removeprefix("safeguard:"), SAFEGUARD_NAMES)
        SAFEGUARD_TRIPS.labels(safeguard=name).inc(max(0, count))
    except Exception:
        log.debug("metrics: record_safeguard_trip failed", exc_info=True)


def multiprocess_dir() -> str | None:
    """The shared directory when this process writes its metrics there, else None.

    Decided by what prometheus-client chose at import, not by the environment now: a process that
    imported it without the variable keeps its values in memory whatever is set later.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(MULTIPROC_DIR_ENV) or None


def scrape_registry(
    extra: Iterable[Collector] = (), *, multiprocess_path: str | None = None
) -> CollectorRegistry:
    """A registry for one scrape: this process's metrics (or every process's) plus `extra`.

    A fresh registry per scrape keeps per-request collectors (the database gauges, which need the
    app's engine) out of the global one. `multiprocess_path` forces aggregation of a directory's
    files; by default they are aggregated exactly when this process writes to one.
    """
    registry = CollectorRegistry()
    path = multiprocess_path or multiprocess_dir()
    if path is not None:
        _multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return registry


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn ``child_exit``, Celery ``worker_process_shutdown``).

    Counters and histograms of dead processes are kept on purpose: the sums stay monotonic.
    """
    path = multiprocess_dir()
    if path is None:
        return
    try:
        _multiprocess.mark_process_dead(f"{_HOST}-{pid}", path)  # type: ignore[no-untyped-call]
    except OSError:
        log.warning("metrics: could not clean up after process %s", pid, exc_info=True)


def start_worker_metrics_server(port: int, addr: str = "0.0.0.0") -> bool:
    """Serve this host's metrics on `port` from a background thread; False if `port` is 0.

    For Celery workers on hosts without a web process. Call it in the pool's parent (Celery's
    ``worker_init``) with ``PROMETHEUS_MULTIPROC_DIR`` set, or the prefork children's counters,
    which live in the children, are invisible to the parent.
    """
    if port <= 0:
        return False
    path = multiprocess_dir()
    if path is None:
        log.warning("metrics: %s is not set; only this process's metrics are served", MULTIPROC_DIR_ENV)
    start_http_server(port, addr=addr, registry=scrape_registry())
    log.info("metrics server listening", extra={"port": port, "multiprocess": path is not None})
    return True
