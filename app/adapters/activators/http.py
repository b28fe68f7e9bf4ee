"""The HTTP reward activator: POST each grant to the operator's own platform, at most once.

The claim id travels as the ``Idempotency-Key`` header on every attempt, so the bounded retries in
here, and the caller's later task retries, can never grant a reward twice: the platform either
grants or recognises the key. Unlike the Optimove clients this one retries by itself, because the
operator's endpoint has no shared rate budget to protect and a transient blip should not cost the
customer a whole task retry.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import requests

from app.adapters.activators import (
    ActivatorError,
    GrantOutcome,
    PermanentActivatorError,
    RewardGrant,
    TransientActivatorError,
)
from app.adapters.optimove._lenient import get_field
from app.adapters.optimove.errors import parse_retry_after

__all__ = [
    "ActivatorError",
    "GrantOutcome",
    "HttpRewardActivator",
    "PermanentActivatorError",
    "RewardGrant",
    "TransientActivatorError",
]

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF_BASE_SECONDS = 0.5
DEFAULT_BACKOFF_MAX_SECONDS = 8.0
MAX_ERROR_BODY_CHARS = 500
USER_AGENT = "promobridge/0.1"
# The key under which the operator's answer may name its own transaction, tried in this order.
EXTERNAL_REF_FIELDS = ("id", "transaction_id")
# 401/403/407 mean our credentials or route are wrong, not that this reward was refused.
_MISCONFIGURED = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, 407})
_RETRY_AFTER_HONOURED = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE})


class HttpRewardActivator:
    """Grants rewards by POSTing them, one request per grant, to the operator's endpoint.

    ``grant`` answers a 2xx or a 409 (the key was seen before: already granted) with
    ``granted=True``, and any other 4xx with ``granted=False`` and the start of the answer as
    ``error``. Timeouts, connection failures, 429 and 5xx are retried up to ``max_attempts`` with
    exponential backoff and full jitter (``Retry-After`` honoured on 429/503, capped at
    ``backoff_max_seconds``), then raise TransientActivatorError. 401/403/407, redirects (never
    followed) and other unexpected statuses raise PermanentActivatorError. Not thread-safe. A
    ``session`` passed in is used as given (proxies included) and is not closed by ``close()``.
    """

    name = "http"

    def __init__(
        self,
        *,
        url: str,
        auth_header: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if backoff_base_seconds < 0 or backoff_max_seconds < 0:
            raise ValueError("backoff seconds must not be negative")
        self._url = url
        self._auth_header = auth_header or ""
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._owns_session = session is None
        self._session = session if session is not None else _direct_session()
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if auth_header:
            self._headers["Authorization"] = auth_header

    def __repr__(self) -> str:
        return f"HttpRewardActivator(url={self._url!r})"

    def record(self, conn: Any, grants: Sequence[RewardGrant], now: datetime) -> None:
        """Nothing to keep locally: the operator's platform holds the grant."""

    def close(self) -> None:
        """Release pooled connections; a session passed in by the caller is left to the caller."""
        if self._owns_session:
            self._session.close()

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """Grant each reward once, in order; see the class docstring for what each answer means."""
        claim_ids = [grant.claim_id for grant in grants]
        if len(set(claim_ids)) != len(claim_ids):
            raise ValueError("a claim id appears twice; one claim grants one reward")
        for grant in grants:
            _check_grant(grant)
        outcomes: list[GrantOutcome] = []
        for grant in grants:
            try:
                outcomes.append(self._grant_one(grant))
            except TransientActivatorError as exc:
                exc.completed = list(outcomes)
                raise
        return outcomes

    def _grant_one(self, grant: RewardGrant) -> GrantOutcome:
        """POST one grant, retrying what may pass; the same Idempotency-Key on every attempt."""
        payload = json.dumps(_grant_body(grant), separators=(",", ":"))
        headers = {**self._headers, "Idempotency-Key": grant.claim_id}
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._session.post(
                    self._url, data=payload, headers=headers, timeout=self._timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                failure, status = type(exc).__name__, None
            else:
                status = response.status_code
                if status < 500 and status != HTTPStatus.TOO_MANY_REQUESTS:
                    return self._settle(grant, response)
                failure = f"answered {status}"
                if status in _RETRY_AFTER_HONOURED:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if attempt == self._max_attempts:
                message = f"grant {grant.claim_id!r} not confirmed after {attempt} attempts: {failure}"
                raise TransientActivatorError(
                    message, claim_id=grant.claim_id, attempts=attempt, status=status
                )
            self._sleep(self._delay(attempt, retry_after))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _settle(self, grant: RewardGrant, response: requests.Response) -> GrantOutcome:
        """Read a final (non-retryable) answer into an outcome, or raise if it says we are misconfigured."""
        status = response.status_code
        if 200 <= status < 300 or status == HTTPStatus.CONFLICT:
            # 409: the platform has seen this Idempotency-Key, so the reward is already granted.
            return GrantOutcome(grant.claim_id, True, _external_ref(response), None)
        # Redacted before trimming, so that a cut cannot leave part of the credential behind.
        text = response.text.replace(self._auth_header, "***") if self._auth_header else response.text
        body = text[:MAX_ERROR_BODY_CHARS]
        if 400 <= status < 500 and status not in _MISCONFIGURED:
            return GrantOutcome(grant.claim_id, False, None, f"refused ({status}): {body}")
        raise PermanentActivatorError(f"reward endpoint answered {status}; check its URL and credentials")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when it sent one, else full jitter over the exponential step."""
        if retry_after is not None:
            return min(retry_after, self._backoff_max)
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)


def _direct_session() -> requests.Session:
    """A session that ignores proxy settings in the environment, as the Optimove clients do.

    The operator's endpoint is usually internal, where a proxy meant for the internet would be
    wrong; an operator who does need one passes a session configured for it.
    """
    session = requests.Session()
    session.trust_env = False
    return session


def _check_grant(grant: RewardGrant) -> None:
    """Refuse, before any call, a grant the operator's platform could not act on."""
    if not grant.claim_id:
        raise ValueError("claim_id must not be empty: it is the idempotency key")
    if not grant.amount.is_finite():
        raise ValueError(f"amount must be finite, got {grant.amount}")


def _grant_body(grant: RewardGrant) -> dict[str, object]:
    """The JSON body; the amount is a decimal string so that no float rounding reaches a wallet."""
    return {
        "claim_id": grant.claim_id,
        "campaign_id": grant.campaign_id,
        "customer_id": grant.customer_id,
        "promo_code": grant.promo_code,
        "tier": grant.tier,
        "reward": {"type": grant.reward_type, "amount": _decimal_text(grant.amount)},
    }


def _decimal_text(amount: Decimal) -> str:
    """Plain notation ("10", "0.000001"), never exponents like "1E+1" that a parser may refuse."""
    return format(amount, "f")


def _external_ref(response: requests.Response) -> str | None:
    """The operator's transaction id from the answer, if it is JSON and names one."""
    try:
        decoded: object = response.json()
    except ValueError:
        return None
    if not isinstance(decoded, Mapping):
        return None
    for name in EXTERNAL_REF_FIELDS:
        value = get_field(decoded, name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None
