"""The HTTP reward activator: POST each grant to the operator's own platform, concurrently, once per call.

Every attempt carries the claim id as its ``Idempotency-Key``, so the platform grants a claim once
however often it is sent. This class makes ONE attempt per grant per call and reads the answer
with ``STATUS_CONTRACT`` below; retrying is the activate task's job (the one retry layer), which
keeps the number of POSTs per grant bounded by ``CLAIM_MAX_RETRIES + 1``. The README's "Reward
activator contract" states the same contract for operators. The requests themselves go out on
libcurl (``curl_posts``), which knows HTTP and nothing of grants.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from app.adapters.activators.curl_posts import Answered, CurlPoster, NoAnswer, NotSent, PostResult
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

GrantHook = Callable[[str, float], None]


def _ignore_grant(outcome: str, seconds: float) -> None:
    """The default hook: count nothing."""


class HttpRewardActivator:
    """Grants rewards by POSTing them, one request per grant, to the operator's endpoint.

    The grants of one call go out concurrently, at most ``concurrency`` at once, over kept-alive
    connections (see ``curl_posts``), so a slow grant does not hold the others. Each answer is read
    with ``STATUS_CONTRACT``; a timeout or a dropped connection is ``RETRY``; a request that cannot
    be sent at all (a malformed URL or header) is ``MISCONFIGURED``. Nothing is raised per grant.
    ``on_grant(outcome, seconds)`` is called once per attempt (metrics). Proxies in the environment
    are ignored: the operator's endpoint is usually internal, where a proxy meant for the internet
    would be wrong.
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
        self._on_grant = on_grant
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if auth_header:
            headers["Authorization"] = auth_header
        self._poster = CurlPoster(
            url,
            headers,
            connect_timeout_seconds=connect_timeout_seconds,
            read_timeout_seconds=read_timeout_seconds,
            concurrency=concurrency,
            max_answer_bytes=MAX_ANSWER_BYTES,
        )

    def __repr__(self) -> str:
        return f"HttpRewardActivator(url={self._url!r})"

    def record(self, uow: UnitOfWork, granted: Sequence[RewardGrant], now: datetime) -> None:
        """Nothing to keep locally: the operator's platform holds the grant."""

    def close(self) -> None:
        """Release the kept-alive connections."""
        self._poster.close()

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
        if not grants:
            return []
        posts = [(grant.claim_id, _grant_body(grant)) for grant in grants]
        try:
            results = self._poster.post_all(posts)
        except Exception as exc:  # a bug or a broken transport: unsettled, and the same keys settle it later
            log.exception("reward grant attempts failed unexpectedly", extra={"grants": len(grants)})
            reason = f"unexpected error: {type(exc).__name__}"
            outcomes = [GrantOutcome(grant.claim_id, GrantKind.RETRY, reason=reason) for grant in grants]
            return self._counted([(outcome, 0.0) for outcome in outcomes])
        answered = zip(grants, results, strict=True)
        return self._counted([(self._outcome(grant, result), secs) for grant, (result, secs) in answered])

    def _counted(self, attempts: list[tuple[GrantOutcome, float]]) -> list[GrantOutcome]:
        """Report each attempt to the hook; counting must never cost an outcome."""
        for outcome, seconds in attempts:
            try:
                self._on_grant(outcome.kind.value, seconds)
            except Exception:
                log.debug("reward grant hook failed", exc_info=True)
        return [outcome for outcome, _ in attempts]

    def _outcome(self, grant: RewardGrant, result: PostResult) -> GrantOutcome:
        match result:
            case Answered(status, retry_after, body):
                return self._settle(grant, status, retry_after, body)
            case NoAnswer(error):
                return GrantOutcome(grant.claim_id, GrantKind.RETRY, reason=f"no answer: {error}")
            case NotSent(error):
                return GrantOutcome(grant.claim_id, GrantKind.MISCONFIGURED, reason=_not_sent(error))

    def _settle(self, grant: RewardGrant, status: int, retry_after: str | None, body: bytes) -> GrantOutcome:
        """Read one answer into an outcome, by ``STATUS_CONTRACT``."""
        kind, meaning = STATUS_CONTRACT.get(status, UNLISTED)
        decoded = _json(body)
        if kind is GrantKind.GRANTED:
            return GrantOutcome(grant.claim_id, kind, external_ref=_external_ref(decoded))
        if kind is GrantKind.RETRY:
            return GrantOutcome(
                grant.claim_id,
                kind,
                reason=f"answered {status} ({meaning})",
                retry_after=parse_retry_after(retry_after),
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


def _not_sent(error: str) -> str:
    return f"request not sent: {error}; check REWARD_ACTIVATOR_URL and _AUTH"


def _secret_parts(auth_header: str) -> tuple[str, ...]:
    """The credential as a whole and its token alone (an endpoint may echo either)."""
    if not auth_header:
        return ()
    token = auth_header.split()[-1]
    return (auth_header, token) if token != auth_header and len(token) >= 8 else (auth_header,)


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


def _grant_body(grant: RewardGrant) -> bytes:
    """The JSON body; the amount is a decimal string so that no float rounding reaches a wallet."""
    body = {
        "claim_id": grant.claim_id,
        "campaign_id": grant.campaign_id,
        "customer_id": grant.customer_id,
        "promo_code": grant.promo_code,
        "tier": grant.tier,
        "reward": {"type": grant.reward_type, "amount": _decimal_text(grant.amount)},
    }
    return json.dumps(body, separators=(",", ":")).encode()


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
