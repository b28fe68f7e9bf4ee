"""The HTTP reward activator: POST each grant to the operator's own platform, concurrently, once per call.

Every attempt carries the claim id as its ``Idempotency-Key``, so the platform grants a claim once
however often it is sent. This class makes ONE attempt per grant per call and reads the answer
with ``STATUS_CONTRACT`` below; retrying is the activate task's job (the one retry layer), which
keeps the number of POSTs per grant bounded by ``CLAIM_MAX_RETRIES + 1``. The README's "Reward
activator contract" states the same contract for operators.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.utils import check_header_validity

from app.adapters.optimove._lenient import get_field
from app.domain.optimove_errors import parse_retry_after
from app.domain.rewards import GrantKind, GrantOutcome, RewardGrant
from app.services.unit_of_work import UnitOfWork

__all__ = ["STATUS_CONTRACT", "GrantKind", "GrantOutcome", "HttpRewardActivator", "RewardGrant"]

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_SECONDS = 3.0
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
DEFAULT_CONCURRENCY = 16
MAX_ANSWER_BYTES = 64 * 1024  # enough for a transaction id or a reason; a huge answer is cut here
MAX_REASON_CHARS = 200  # a claim's reason column holds 255, with its prefix
READ_CHUNK_BYTES = 8192
USER_AGENT = "promobridge/0.1"
# The keys under which the operator's answer may name its own transaction, tried in this order.
EXTERNAL_REF_FIELDS = ("id", "transaction_id")
# The key under which a 422 may say why the platform refused the reward.
REFUSAL_REASON_FIELD = "reason"

# What each answer of the operator's endpoint means: the whole contract, in one table.
# A status that is not listed is MISCONFIGURED (``UNLISTED``): nothing we send again can change it.
# Redirects are never followed: a grant must not be replayed to a URL nobody configured.
STATUS_CONTRACT: Mapping[int, tuple[GrantKind, str]] = MappingProxyType(
    {
        200: (GrantKind.GRANTED, "granted"),
        201: (GrantKind.GRANTED, "granted"),
        204: (GrantKind.GRANTED, "granted"),
        202: (GrantKind.RETRY, "accepted, not done yet"),
        **dict.fromkeys(range(300, 400), (GrantKind.MISCONFIGURED, "redirect, not followed; check the URL")),
        400: (GrantKind.MISCONFIGURED, "bad request; the endpoint does not take our grant body"),
        401: (GrantKind.MISCONFIGURED, "unauthorized; check REWARD_ACTIVATOR_AUTH"),
        403: (GrantKind.MISCONFIGURED, "forbidden; check REWARD_ACTIVATOR_AUTH"),
        404: (GrantKind.MISCONFIGURED, "not found; check REWARD_ACTIVATOR_URL"),
        407: (GrantKind.MISCONFIGURED, "proxy authentication required"),
        408: (GrantKind.RETRY, "request timeout"),
        409: (GrantKind.RETRY, "the same Idempotency-Key is still being processed"),
        422: (GrantKind.REFUSED, "refused"),
        425: (GrantKind.RETRY, "too early"),
        429: (GrantKind.RETRY, "too many requests"),
        **dict.fromkeys(range(500, 600), (GrantKind.RETRY, "server error")),
    }
)
UNLISTED = (GrantKind.MISCONFIGURED, "unexpected answer; check REWARD_ACTIVATOR_URL")
# Failures before any answer: the grant may or may not have been applied; the same key settles it.
_NO_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

GrantHook = Callable[[str, float], None]


def _ignore_grant(outcome: str, seconds: float) -> None:
    """The default hook: count nothing."""


class HttpRewardActivator:
    """Grants rewards by POSTing them, one request per grant, to the operator's endpoint.

    The grants of one call go out concurrently on a pool of ``concurrency`` threads sharing one
    session (a connection pool of the same size), so a slow grant does not hold the others. Each
    answer is read with ``STATUS_CONTRACT``; a timeout or a dropped connection is ``RETRY``; a
    request that cannot be sent at all (a malformed URL or header) is ``MISCONFIGURED``. Nothing
    is raised per grant. ``on_grant(outcome, seconds)`` is called once per attempt (metrics). A
    ``session`` passed in is used as given (proxies, cookies and hooks included) and is not closed by
    ``close()``; with the session of its own, each grant is a copy of one request prepared up front,
    sent through the session's connection pool (see ``_send``).
    """

    name = "http"

    def __init__(
        self,
        *,
        url: str,
        auth_header: str | None = None,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY,
        session: requests.Session | None = None,
        on_grant: GrantHook = _ignore_grant,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        if connect_timeout_seconds <= 0 or read_timeout_seconds <= 0:
            raise ValueError("timeouts must be positive")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._url = url
        self._secrets = _secret_parts(auth_header or "")
        self._timeout = (connect_timeout_seconds, read_timeout_seconds)
        self._owns_session = session is None
        self._session = session if session is not None else _pooled_session(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="reward-grant")
        self._on_grant = on_grant
        self._headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if auth_header:
            self._headers["Authorization"] = auth_header
        # Our own session has no proxies, cookies or hooks to merge into each request, so its grants
        # skip Session.request and go straight to its adapter: 1.7 instead of 2.6 ms of CPU per grant
        # (measured against the simulator), which a worker pays for every grant of a burst.
        self._adapter: BaseAdapter | None = None
        self._template: requests.PreparedRequest | None = None
        self._unsendable: str | None = None
        if self._owns_session:
            self._adapter = self._session.get_adapter(url)
            self._template, self._unsendable = _prepared_template(url, self._headers)

    def __repr__(self) -> str:
        return f"HttpRewardActivator(url={self._url!r})"

    def record(self, uow: UnitOfWork, granted: Sequence[RewardGrant], now: datetime) -> None:
        """Nothing to keep locally: the operator's platform holds the grant."""

    def close(self) -> None:
        """Stop the thread pool; release pooled connections unless the caller owns the session."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._owns_session:
            self._session.close()

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """One attempt per grant, concurrently; one outcome per grant, in order.

        Raises ValueError, before any call, for grants that can never be sent (a claim id twice or
        empty, an amount that is not a finite number).
        """
        claim_ids = [grant.claim_id for grant in grants]
        if len(set(claim_ids)) != len(claim_ids):
            raise ValueError("a claim id appears twice; one claim grants one reward")
        for grant in grants:
            _check_grant(grant)
        if len(grants) == 1:
            return [self._attempt(grants[0])]
        # Each thread runs in a copy of the caller's context, so log lines keep the correlation id.
        futures = [self._pool.submit(contextvars.copy_context().run, self._attempt, g) for g in grants]
        return [future.result() for future in futures]

    def _attempt(self, grant: RewardGrant) -> GrantOutcome:
        """POST one grant and read the answer; never raises, so no grant's outcome is lost."""
        started = time.monotonic()
        try:
            outcome = self._post(grant)
        except Exception as exc:  # a bug or a hostile answer: unsettled, and the same key settles it later
            log.exception("reward grant attempt failed unexpectedly", extra={"claim_id": grant.claim_id})
            outcome = GrantOutcome(
                grant.claim_id, GrantKind.RETRY, reason=f"unexpected error: {type(exc).__name__}"
            )
        try:
            self._on_grant(outcome.kind.value, time.monotonic() - started)
        except Exception:  # counting must never cost an outcome
            log.debug("reward grant hook failed", exc_info=True)
        return outcome

    def _post(self, grant: RewardGrant) -> GrantOutcome:
        if self._unsendable is not None:
            return GrantOutcome(grant.claim_id, GrantKind.MISCONFIGURED, reason=self._unsendable)
        payload = json.dumps(_grant_body(grant), separators=(",", ":"))
        try:
            with self._send(grant.claim_id, payload) as response:
                return self._settle(grant, response.status_code, response.headers, _read_capped(response))
        except _NO_ANSWER as exc:
            return GrantOutcome(grant.claim_id, GrantKind.RETRY, reason=f"no answer: {type(exc).__name__}")
        except requests.RequestException as exc:
            return GrantOutcome(grant.claim_id, GrantKind.MISCONFIGURED, reason=_not_sent(exc))

    def _send(self, idempotency_key: str, payload: str) -> requests.Response:
        """One POST, never following a redirect; raises what requests raises (read by ``_post``)."""
        if self._adapter is None or self._template is None:  # the caller's session: all of it applies
            return self._session.post(
                self._url,
                data=payload,
                headers={**self._headers, "Idempotency-Key": idempotency_key},
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            )
        header = ("Idempotency-Key", idempotency_key)
        check_header_validity(header)  # as preparing a request would: InvalidHeader, nothing sent
        prepared = self._template.copy()
        prepared.headers[header[0]] = header[1]
        prepared.prepare_body(payload, None)
        response: requests.Response = self._adapter.send(prepared, stream=True, timeout=self._timeout)
        return response

    def _settle(
        self, grant: RewardGrant, status: int, headers: Mapping[str, str], body: bytes
    ) -> GrantOutcome:
        """Read one answer into an outcome, by ``STATUS_CONTRACT``."""
        kind, meaning = STATUS_CONTRACT.get(status, UNLISTED)
        decoded = _json(body)
        if kind is GrantKind.GRANTED:
            return GrantOutcome(grant.claim_id, kind, external_ref=_external_ref(decoded))
        if kind is GrantKind.RETRY:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            return GrantOutcome(
                grant.claim_id, kind, reason=f"answered {status} ({meaning})", retry_after=retry_after
            )
        text = _refusal_reason(decoded) if kind is GrantKind.REFUSED else None
        detail = self._one_line(text if text is not None else body.decode("utf-8", errors="replace"))
        if kind is GrantKind.REFUSED:
            return GrantOutcome(grant.claim_id, kind, reason=detail or meaning)
        reason = f"answered {status} ({meaning})" + (f": {detail}" if detail else "")
        return GrantOutcome(grant.claim_id, kind, reason=reason[:MAX_REASON_CHARS])

    def _one_line(self, text: str) -> str:
        """Text from the platform, on one line, cut short, with our credential removed before cutting."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return " ".join(text.split())[:MAX_REASON_CHARS]


def _prepared_template(
    url: str, headers: Mapping[str, str]
) -> tuple[requests.PreparedRequest | None, str | None]:
    """The grant request without its body and key, prepared once; or why it cannot be (a bad URL or
    header): every grant then fails as not sent, as when each grant was prepared on its own."""
    try:
        return requests.Request("POST", url, headers=dict(headers)).prepare(), None
    except requests.RequestException as exc:
        return None, _not_sent(exc)


def _not_sent(exc: requests.RequestException) -> str:
    return f"request not sent: {type(exc).__name__}; check REWARD_ACTIVATOR_URL and _AUTH"


def _pooled_session(concurrency: int) -> requests.Session:
    """A session with one connection per worker thread that ignores proxy settings in the environment.

    The operator's endpoint is usually internal, where a proxy meant for the internet would be
    wrong; an operator who does need one passes a session configured for it. The connection pool
    is thread-safe, which is what lets the grant threads share the session.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_maxsize=concurrency, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _secret_parts(auth_header: str) -> tuple[str, ...]:
    """The credential as a whole and its token alone (an endpoint may echo either)."""
    if not auth_header:
        return ()
    token = auth_header.split()[-1]
    return (auth_header, token) if token != auth_header and len(token) >= 8 else (auth_header,)


def _read_capped(response: requests.Response) -> bytes:
    """At most MAX_ANSWER_BYTES of the answer; a body cut short by the network is kept as read."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=READ_CHUNK_BYTES):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                break
    except requests.RequestException:
        pass  # the status line arrived, which is what the contract reads
    return b"".join(chunks)[:MAX_ANSWER_BYTES]


def _json(body: bytes) -> object:
    """The answer as JSON, or None (not JSON, or nested deep enough to exhaust the parser)."""
    try:
        decoded: object = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return decoded


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


def _external_ref(decoded: object) -> str | None:
    """The operator's transaction id from the answer, if it is a JSON object that names one."""
    if not isinstance(decoded, Mapping):
        return None
    for name in EXTERNAL_REF_FIELDS:
        value = get_field(decoded, name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()[:128]
    return None


def _refusal_reason(decoded: object) -> str | None:
    """The platform's own words for a refusal (``{"reason": "…"}``), if it gave any."""
    if not isinstance(decoded, Mapping):
        return None
    value = get_field(decoded, REFUSAL_REASON_FIELD)
    return value if isinstance(value, str) and value.strip() else None
