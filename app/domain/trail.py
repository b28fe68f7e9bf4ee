"""A customer's trail: every decision and step for a (campaign, customer), append-only (framework-free).

Each step is written by the work itself, in its own transaction and batch, so the trail can never
claim something that did not commit. An event keeps what a support agent needs to answer "why did
(or didn't) this customer get the reward?" and no more: ids, times, the policy and the flag values
it decided on, what OptiPromo answered, what was granted and in which status call it was reported.
Never the customer's session properties, email, name or any other attribute of the person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# The steps, in the order a customer usually meets them. Past tense: each one happened.
# An eligible customer, and an auto campaign's approval, cost no event: the audience row and the
# outbox row tell them (see StatusRecord).
MAX_CUSTOMER_ID_CHARS = 128  # Optimove's CustomerID as the API, the CLI and the console accept it


def is_valid_customer_id(value: str) -> bool:
    """Whether `value` can name a customer: 1-128 characters, no control characters."""
    return 0 < len(value) <= MAX_CUSTOMER_ID_CHARS and not any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


AUDIENCE_SCRUBBED = "audience.scrubbed"
CLAIM_RECEIVED = "claim.received"
CLAIM_REJECTED = "claim.rejected"
VALIDATION_ANSWERED = "validation.answered"
VALIDATION_ERROR = "validation.error"
GRANT_SETTLED = "grant.settled"
GRANT_REFUSED = "grant.refused"
GRANT_RETRY = "grant.retry"
CLAIM_FAILED = "claim.failed"
CLAIM_REPLAYED = "claim.replayed"
STATUS_QUEUED = "status.queued"
STATUS_SENT = "status.sent"
STATUS_AMBIGUOUS = "status.ambiguous"
STATUS_RETRY = "status.retry"
STATUS_DEAD = "status.dead"

STEPS = (
    AUDIENCE_SCRUBBED, CLAIM_RECEIVED, CLAIM_REJECTED, VALIDATION_ANSWERED, VALIDATION_ERROR,
    GRANT_SETTLED, GRANT_REFUSED, GRANT_RETRY, CLAIM_FAILED, CLAIM_REPLAYED,
    STATUS_QUEUED, STATUS_AMBIGUOUS, STATUS_RETRY, STATUS_SENT, STATUS_DEAD,
)  # fmt: skip

_STEP_RANK = {step: rank for rank, step in enumerate(STEPS)}
MAX_DETAIL_TEXT_CHARS = 200  # an error message kept in a detail is cut to this

Details = Mapping[str, Any]  # JSON-able: ids, codes, flag values, amounts as text

# Reasons in the words a support agent reads. The codes are promobridge's own (the vendor's
# spellings are mapped to them in app.adapters.optimove.optipromo_contract).
REASON_WORDS: Mapping[str, str] = {
    "not_in_audience": "the customer is not in the campaign's audience",
    "no_consent": "no marketing consent (the Optimove consent attribute says no)",
    "consent_withdrawn": "consent withdrawn (the operator's own data says so)",
    "fraud_flagged": "flagged for fraud",
    "optipromo:not_eligible": "OptiPromo found the customer not eligible (no tier of the promotion matched)",
    "optipromo:audience_cap_reached": "the promotion's audience cap was already reached",
    "optipromo:reward_budget_exhausted": "the promotion's reward budget could not cover this reward",
    "optipromo:promotion_inactive": "the promotion is deactivated or archived in OptiPromo",
    "activation_refused": "the operator's platform refused the reward",
    "activation_unconfirmed": "the grant stayed unconfirmed after every attempt allowed",
    "activation_misconfigured": "the reward activator is misconfigured",
}


def reason_in_words(reason: str | None) -> str:
    """A claim or scrub reason as a support agent reads it (the code itself when it has no words)."""
    if not reason:
        return "no reason recorded"
    code = reason.removeprefix("scrubbed:")
    if code in REASON_WORDS:
        return REASON_WORDS[code]
    head, _, rest = code.partition(": ")
    if head in REASON_WORDS:
        return f"{REASON_WORDS[head]} ({rest})"
    if code.startswith("optipromo:other:"):
        return f"OptiPromo refused, saying {code.removeprefix('optipromo:other:')!r}"
    if code.startswith("safeguard:"):
        return f"stopped by a safeguard of the campaign ({code.removeprefix('safeguard:')})"
    return code


def amount_text(amount: Decimal | None) -> str | None:
    """An amount as the trail keeps it (text: JSON has no decimal, and a float would round)."""
    return None if amount is None else format(amount.normalize(), "f")


def cut(text: str) -> str:
    """Free text (an error message) cut to what a detail keeps."""
    return text if len(text) <= MAX_DETAIL_TEXT_CHARS else text[: MAX_DETAIL_TEXT_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class TrailEvent:
    """One step of a (campaign, customer): when, what, and the inputs and outcome it had."""

    campaign_id: int
    customer_id: str
    at: datetime
    step: str
    details: Details = field(default_factory=dict)


# What became of one status call (a row of status_calls).
CALL_SENT = "sent"
CALL_AMBIGUOUS = "ambiguous"  # failed, but Optimove may have applied it: the rows will be sent again
CALL_RETRY = "retry"  # failed before Optimove could apply it
CALL_DEAD = "dead"  # given up: the rows are dead-lettered


@dataclass(frozen=True, slots=True)
class StatusCall:
    """One UpdateCustomerPromotionStatus call: when, how many statuses, which attempt, and its outcome."""

    id: int
    at: datetime
    size: int
    attempt: int
    outcome: str


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """The customer's status for Optimove as the outbox holds it, with the last call that carried it.

    Written once per call for a whole batch (the outbox row points at its call): the trail keeps no
    row per customer for a status sent, so a call of 10,000 statuses costs one row, not 10,000.
    """

    queued_at: datetime
    sent_at: datetime | None
    dead_at: datetime | None
    sends: int  # calls that carried it and may have been applied: > 1 means Optimove saw a re-send
    attempts: int
    last_error: str | None
    last_call: StatusCall | None


@dataclass(frozen=True, slots=True)
class AudienceEntry:
    """What the audience row says of the customer now (written at ingest, before any trail existed)."""

    promo_code: str | None
    segment: str | None
    eligible: bool
    scrub_reason: str | None


@dataclass(frozen=True, slots=True)
class ClaimSummary:
    """What the claim row says now: enough to tell the story of a claim made before the trail."""

    id: str
    state: str
    reason: str | None
    source: str
    client_id: int | None
    tier: str | None
    reward_type: str | None
    reward_amount: Decimal | None
    granted_amount: Decimal | None
    created_at: datetime
    validated_at: datetime | None
    activated_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CampaignTrail:
    """One campaign's story for one customer: the current rows and the recorded steps, in order."""

    campaign_id: int
    mode: str | None
    state: str | None
    audience: AudienceEntry | None
    claim: ClaimSummary | None
    events: Sequence[TrailEvent]
    ingested_at: datetime | None = None  # when the campaign's ingest finished
    status: StatusRecord | None = None
    customer_id: str = ""
    started_at: datetime | None = None  # when the campaign was announced (created)

    def before_the_trail(self, recorded_since: datetime | None) -> bool:
        """Whether this story happened before the trail recorded anything (told from the rows then)."""
        if self.events:
            return False
        return recorded_since is None or self.started_at is None or self.started_at < recorded_since

    @property
    def ordered(self) -> list[TrailEvent]:
        """Every step in the order it happened: the recorded events and, told by the outbox row, the
        status queued and the call that delivered it. Steps of the same instant (one transaction)
        follow the life of a claim (STEPS)."""
        return sorted([*self.events, *self._status_steps()], key=lambda e: (e.at, _STEP_RANK.get(e.step, 0)))

    def _status_steps(self) -> list[TrailEvent]:
        status = self.status
        if status is None or not self.customer_id:
            return []
        cid, customer = self.campaign_id, self.customer_id
        steps = [
            TrailEvent(cid, customer, status.queued_at, STATUS_QUEUED, {"auto_mode": self.mode == "auto"})
        ]
        if status.sent_at is not None:
            call = status.last_call
            details: dict[str, Any] = {
                "call_id": None if call is None else call.id,
                "batch_size": None if call is None else call.size,
                "attempt": status.attempts if call is None else call.attempt,
                "resent": status.sends > 1,
                "sends": status.sends,
            }
            steps.append(TrailEvent(cid, customer, status.sent_at, STATUS_SENT, details))
        if status.dead_at is not None and not any(e.step == STATUS_DEAD for e in self.events):
            details = {"call_id": None, "error": cut(status.last_error or "no error recorded")}
            steps.append(TrailEvent(cid, customer, status.dead_at, STATUS_DEAD, details))
        return steps

    @property
    def last_seen(self) -> datetime | None:
        """The latest time anything is known of (to list the most recent campaign first)."""
        times = [e.at for e in self.events]
        if self.status is not None:
            times.append(self.status.queued_at)
        if self.claim is not None:
            times.append(self.claim.created_at)
        return max(times, default=None)


@dataclass(frozen=True, slots=True)
class CustomerTrail:
    """Every campaign a customer appears in, most recent step first; `recorded_since` is when the
    trail began (None when nothing was ever recorded): anything earlier is known only from the rows."""

    customer_id: str
    campaigns: Sequence[CampaignTrail]
    recorded_since: datetime | None
    truncated: bool = False
