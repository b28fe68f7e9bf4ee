"""Publishing task messages by name from processes that are not workers (the web app).

The web app must not import the worker code, so it publishes by task name through a client-only
Celery app configured from `celeryconfig` (same broker, same routes). Publishing is best effort:
the claim row is already committed, and the reconciler re-dispatches anything not picked up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import Celery

log = logging.getLogger(__name__)
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


class TaskPublisher:
    """Sends the first step of a claim's chain; never raises (the reconciler is the safety net)."""

    def __init__(self, celery_app: Celery | None = None) -> None:
        if celery_app is None:
            import celeryconfig

            celery_app = Celery("promobridge-publisher")
            celery_app.config_from_object(celeryconfig)
        self.celery_app = celery_app

    def _send(self, name: str, args: list[object]) -> None:
        try:
            self.celery_app.send_task(name, args=args, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception as exc:  # the broker being down must not fail a request whose data is committed
            log.warning(
                "could not publish task; the reconciler will", extra={"task": name, "error": repr(exc)}
            )

    def validate_claim(self, claim_id: str) -> None:
        """Queue the validation of a pending claim."""
        self._send("promobridge.claims.validate", [claim_id])

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        """Queue the activation of validated claims."""
        self._send("promobridge.claims.activate", [list(claim_ids)])

    def report_status(self) -> None:
        """Queue a status-update round."""
        self._send("promobridge.claims.report_status", [])


def submit_claim_via_broker(
    celery_app: Celery,
    *,
    campaign_id: int,
    customer_id: str,
    session_properties: dict[str, object] | None = None,
    idempotency_key: str | None = None,
) -> str:
    """For app backends that share promobridge's broker: enqueue a claim job; returns the message id.

    Task `promobridge.claims.submit.v1(campaign_id, customer_id, session_properties, idempotency_key)`.
    The job writes the claim idempotently (the same job twice is one claim). This path is only as
    durable as the broker: use the HTTP API when a claim must never be lost.
    """
    result = celery_app.send_task(
        "promobridge.claims.submit.v1",
        args=[campaign_id, customer_id, session_properties or {}, idempotency_key],
        queue="claims",
    )
    return str(result.id)
