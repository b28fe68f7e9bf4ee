"""The relay process: the inbox doorbell, the sweepers and the outbox relay in one loop.

Run several for throughput or availability: every step claims its rows with SKIP LOCKED.
It stops cleanly on SIGTERM/SIGINT after the step in progress. When idle it sleeps until a status
update is queued (PostgreSQL NOTIFY: a reward's status goes out within moments of the grant) or
RELAY_IDLE_SLEEP_SECONDS pass (the sweepers, SQLite, and any notification that was lost).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta
from types import FrameType

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from app.adapters.db.dialect import has_notifications
from app.adapters.db.notifications import OUTBOX, ChannelListener
from app.bootstrap import Container
from app.domain.backoff import Backoff
from app.domain.optimove_errors import OptimoveError
from app.services.relay import relay_once
from app.services.sweeper import dispatch_inbox, sweep_stale_work

log = logging.getLogger(__name__)
# The relay's own outages back off on the shared formula, but never past 10 s: it is the doorbell.
ERROR_BACKOFF = Backoff(base_seconds=0.5, max_seconds=10.0)
# Outages of PostgreSQL, Redis (broker, rate-limit ledger) or Optimove: back off and go on, never exit.
INFRASTRUCTURE_ERRORS = (SQLAlchemyError, OptimoveError, OSError, RedisError, KombuOperationalError)


class RelayLoop:
    """Dispatches new inbox events, sweeps stale work and drains the outbox until stopped."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.stop_event = threading.Event()
        self.wake = threading.Event()  # set by a status queued anywhere (or by stopping)
        self._next_sweep = 0.0
        self.batches_sent = 0
        self._listener = (
            ChannelListener(
                container.engine,
                channel=OUTBOX,
                on_final=lambda _payloads: self.wake.set(),
                on_gap=self.wake.set,
            )
            if has_notifications(container.engine)
            else None
        )

    def install_signal_handlers(self) -> None:
        """Stop after the current step on SIGTERM or SIGINT."""

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("relay stopping", extra={"signal": signum})
            self.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def step(self) -> bool:
        """Do one round of work; True when there was something to do."""
        settings = self.container.settings
        stale = timedelta(seconds=settings.sweep_stale_after_seconds)
        busy = dispatch_inbox(self.container.uow, self.container.dispatcher, stale_after=stale) > 0
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + settings.sweep_interval_seconds
            swept = sweep_stale_work(
                self.container.uow,
                self.container.dispatcher,
                self.container.validation_doorbell,
                self.container.deadlines,
                stale_after=stale,
                claim_stale_after=timedelta(seconds=settings.claim_stale_after_seconds),
            )
            busy |= swept.busy
        result = relay_once(self.container.uow, self.container.optimove, self.container.relay)
        if result is not None:
            self.batches_sent += result.outcome == "sent"
            log.info(
                "relay batch",
                extra={
                    "campaign_id": result.campaign_id,
                    "outcome": result.outcome,
                    "customers": result.customers,
                },
            )
        return busy or result is not None

    def stop(self) -> None:
        """Stop after the current step."""
        self.stop_event.set()
        self.wake.set()

    def run(self) -> None:
        """Loop until stopped; infrastructure errors back off instead of crashing the process."""
        if self._listener is not None:
            self._listener.ensure_started()
        try:
            self._loop()
        finally:
            if self._listener is not None:
                self._listener.stop()

    def _loop(self) -> None:
        errors = 0
        while not self.stop_event.is_set():
            try:
                busy = self.step()
                errors = 0
            except INFRASTRUCTURE_ERRORS as exc:
                errors += 1
                delay = ERROR_BACKOFF.delay(errors)
                log.warning(
                    "relay step failed", extra={"error": f"{type(exc).__name__}: {exc}", "retry_in_s": delay}
                )
                self.stop_event.wait(delay)
                continue
            if not busy:
                self.wake.wait(self.container.settings.relay_idle_sleep_seconds)
                self.wake.clear()


def main() -> None:
    """`python -m workers.relay` (what `promobridge relay` and the Procfile run)."""
    from app.adapters.dispatch import CeleryDispatcher
    from app.bootstrap import close_process_container, process_container
    from app.config import process_settings
    from app.gc_tuning import settle_heap_for_bulk_work
    from app.observability.logging import configure_logging
    from app.observability.metrics import start_worker_metrics_server
    from app.security import exit_unless_secrets_are_safe
    from workers.celery_app import app as celery_app

    settings = process_settings()
    exit_unless_secrets_are_safe(settings, "relay")
    configure_logging(settings.log_level, settings.log_json)
    start_worker_metrics_server(settings.relay_metrics_port)
    loop = RelayLoop(process_container(lambda: CeleryDispatcher(celery_app)))
    settle_heap_for_bulk_work(settings.worker_gc_gen0_threshold)  # status calls of 10,000 customers
    loop.install_signal_handlers()
    log.info("relay started")
    try:
        loop.run()
    finally:
        close_process_container()


if __name__ == "__main__":
    main()
