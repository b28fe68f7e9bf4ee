"""The OptiPromo ``validateCustomers`` client: many customers a call, one HTTP attempt a call.

Claims for one promo code are micro-batched into one call (DESIGN §1 C.2) so that the shared rate
budget does not cap claim throughput. Like ``OptimoveClient`` it never retries: retries belong to
the callers, which know the claim's deadline and record each attempt. It sends through that
client's one-attempt transport, so both APIs fail with the same error tree and callers handle
them alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import requests

from app.adapters.optimove.client import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    CallHook,
    OptimoveClient,
)
from app.adapters.optimove.optipromo_contract import (
    OptiPromoContract,
    ValidationContext,
    ValidationResult,
)
from app.adapters.ratelimit import RateLimiter
from app.domain.optimove_errors import OptimoveError, OptimoveProtocolError

__all__ = ["DEFAULT_MAX_CONTEXTS", "OptiPromoClient", "ValidationContext", "ValidationResult"]

DEFAULT_MAX_CONTEXTS = OptiPromoContract.max_contexts


class OptiPromoClient:
    """Validate customers against a promotion's rules, tiers and budget for one API key.

    Raises only ``OptimoveError`` subclasses for anything that went wrong on the wire (endpoint
    "validateCustomers"), and ValueError for arguments that could never succeed; the rate
    limiter's own errors pass through unchanged. "Not eligible" is a result, never an error. Not
    thread-safe (one ``requests.Session``). A ``session`` passed in is used as given and is not
    closed by ``close()``. ``on_call(endpoint, outcome, seconds)`` is called once per HTTP attempt.
    ``reason_aliases`` maps more of the vendor's reason codes to promobridge's reasons (see the
    contract module); an alias to a reason promobridge does not know is a ValueError.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        rate_limiter: RateLimiter,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        max_contexts: int = DEFAULT_MAX_CONTEXTS,
        session: requests.Session | None = None,
        on_call: CallHook | None = None,
        reason_aliases: Mapping[str, str] | None = None,
    ) -> None:
        if max_contexts < 1:
            raise ValueError(f"max_contexts must be at least 1, got {max_contexts}")
        self.contract = OptiPromoContract(reason_aliases=dict(reason_aliases or {}))
        self._max_contexts = max_contexts
        self._on_call = on_call
        # OptiPromo takes the same key, headers and failure mapping as Optimove, so the Optimove
        # client's one-attempt transport (slot, timeouts, no redirects, no retries) serves it too.
        self._transport = OptimoveClient(
            base_url=base_url,
            api_key=api_key,
            rate_limiter=rate_limiter,
            timeout_seconds=timeout_seconds,
            connect_timeout_seconds=connect_timeout_seconds,
            session=session,
            on_call=None if on_call is None else self._report,
        )

    def __repr__(self) -> str:
        return repr(self._transport).replace("OptimoveClient", "OptiPromoClient", 1)

    def close(self) -> None:
        """Release pooled connections; a session passed in by the caller is left to the caller."""
        self._transport.close()

    def validate_customers(
        self,
        promocode_id: str,
        contexts: Sequence[ValidationContext],
        *,
        campaign_id: int | str | None = None,
    ) -> list[ValidationResult]:
        """Validate every context and return one result per context, in the order asked.

        More than ``max_contexts`` contexts go out as several calls, one rate-limit slot each. A
        failure part-way raises and drops the earlier calls' results; validating again is what
        the caller's retry does anyway.
        """
        _check_request(promocode_id, contexts, campaign_id)
        path = self.contract.validate_path(promocode_id)
        results: list[ValidationResult] = []
        for start in range(0, len(contexts), self._max_contexts):
            chunk = contexts[start : start + self._max_contexts]
            answer = self._post(path, self.contract.validate_body(chunk, campaign_id))
            results.extend(self._match(chunk, answer))
        return results

    def wait_for_budget(self, *, max_seconds: float) -> float:
        """Sleep until a rate-limit slot is free; see ``OptimoveClient.wait_for_budget``."""
        return self._transport.wait_for_budget(max_seconds=max_seconds)

    def budget_used(self) -> float:
        """The share of the shared budget's window already spent; see ``OptimoveClient.budget_used``."""
        return self._transport.budget_used()

    def _post(self, path: str, body: object) -> object:
        """Send one attempt, naming failures "validateCustomers" rather than the path.

        The path holds the promocode id: as a metrics label or error field it would be unbounded.
        """
        try:
            return self._transport._call("POST", path, body=body, expect="json")
        except OptimoveError as exc:
            exc.endpoint = self.contract.endpoint
            raise

    def _report(self, path: str, outcome: str, seconds: float) -> None:
        if self._on_call is not None:
            self._on_call(self.contract.endpoint, outcome, seconds)

    def _match(self, chunk: Sequence[ValidationContext], answer: object) -> list[ValidationResult]:
        """Pair each requested context with its answer by customer id; a missing one is untrustworthy."""
        endpoint = self.contract.endpoint
        try:
            by_customer = self.contract.parse_validate_answer(answer)
        except ValueError as exc:
            raise OptimoveProtocolError(f"bad answer: {exc}", endpoint=endpoint, status=200) from None
        missing = [context.customer_id for context in chunk if context.customer_id not in by_customer]
        if missing:
            message = f"{len(missing)} requested customers are not in the answer, e.g. {missing[0]!r}"
            raise OptimoveProtocolError(message, endpoint=endpoint, status=200)
        return [by_customer[context.customer_id] for context in chunk]


def _check_request(
    promocode_id: str, contexts: Sequence[ValidationContext], campaign_id: int | str | None
) -> None:
    """Refuse, before any call, what OptiPromo could never answer or we could never match back."""
    if not promocode_id:
        raise ValueError("promocode_id must not be empty")
    if isinstance(campaign_id, bool) or campaign_id == "":
        raise ValueError(f"campaign_id must be an integer or a non-empty string, got {campaign_id!r}")
    seen: set[str] = set()
    for context in contexts:
        if not context.customer_id:
            raise ValueError("customer_id must not be empty")
        if context.customer_id in seen:
            raise ValueError(f"customer {context.customer_id!r} is in the request twice")
        seen.add(context.customer_id)
