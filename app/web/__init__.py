"""The Flask application factory: `gunicorn 'app.web:create_app()'`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import Engine

from app.adapters.db.dialect import has_notifications
from app.adapters.db.notifications import ChannelListener
from app.bootstrap import Container, build_container
from app.config import Settings, process_settings
from app.observability.task_context import connect_task_publish_correlation
from app.security import require_safe_secrets, with_console_secret_key, with_listener_token
from app.services.claim_watch import NOTIFIED_RECHECK_SECONDS, POLLED_RECHECK_SECONDS, ClaimWatch
from app.services.clients import KeyCache
from app.services.long_poll_gate import LongPollGate
from app.services.ports import Dispatcher
from app.web.admin import admin_api
from app.web.auth import ClientRateLimiter
from app.web.claims import claims_api
from app.web.console import install_console
from app.web.customers import customers_api
from app.web.errors import register_error_handlers
from app.web.openapi import openapi
from app.web.ops import install_request_correlation, ops
from app.web.security_headers import install_security_headers
from app.web.webhooks import webhooks


@dataclass
class WebServices:
    """What the views use, built once per process: the container, and the web's own parts."""

    container: Container
    rate_limiter: ClientRateLimiter
    key_cache: KeyCache | None
    claim_watch: ClaimWatch
    long_polls: LongPollGate
    claim_listener: ChannelListener | None  # None on SQLite: long polls re-read at an interval

    def start_claim_listener(self) -> None:
        """Listen for final claims from now on (started lazily: gunicorn forks after create_app)."""
        if self.claim_listener is not None:
            self.claim_listener.ensure_started()

    def close(self) -> None:
        """Stop the background listener (tests; a web process simply exits)."""
        if self.claim_listener is not None:
            self.claim_listener.stop()


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, publisher: Dispatcher | None = None
) -> Flask:
    """Build the web app; tests pass their own settings, engine and dispatcher instead of patching.

    Raises SecretsMisconfigured (before anything is built) when the secrets are missing or weak.
    """
    settings = with_console_secret_key(with_listener_token(settings or process_settings()))
    require_safe_secrets(settings, "web")
    if settings.long_poll_capacity_error:
        raise ValueError(settings.long_poll_capacity_error)
    container = build_container(settings, dispatcher=publisher, engine=engine)
    engine = container.engine
    notified = has_notifications(engine)
    watch = ClaimWatch(recheck_seconds=NOTIFIED_RECHECK_SECONDS if notified else POLLED_RECHECK_SECONDS)
    app = Flask("promobridge")
    # One byte more than allowed: Werkzeug silently truncates a chunked body at the limit, so the
    # views read up to limit + 1 bytes and answer 413 themselves when they get that extra byte.
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_bytes + 1
    app.config["PROMOBRIDGE_SETTINGS"] = settings
    app.config["PROMOBRIDGE_ENGINE"] = engine
    app.config["PROMOBRIDGE_SERVICES"] = WebServices(
        container=container,
        rate_limiter=ClientRateLimiter(settings.rate_limiter_redis_url or "memory://"),
        key_cache=KeyCache(settings.claims_key_cache_seconds) if settings.claims_key_cache_seconds else None,
        claim_watch=watch,
        long_polls=LongPollGate(
            total=settings.claims_max_long_polls, per_client=settings.claims_max_long_polls_per_client
        ),
        claim_listener=(
            ChannelListener(
                engine, on_final=watch.claims_became_final, on_gap=watch.notifications_may_be_lost
            )
            if notified
            else None
        ),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    install_request_correlation(app)
    install_security_headers(app)
    connect_task_publish_correlation()  # tasks this app queues carry the request's correlation id
    app.register_blueprint(ops)
    app.register_blueprint(webhooks)
    app.register_blueprint(claims_api)
    app.register_blueprint(admin_api)
    app.register_blueprint(customers_api)
    app.register_blueprint(openapi)
    install_console(app, settings)
    return app
