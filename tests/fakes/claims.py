"""Claims in memory, moved by the same state guards as ``app.adapters.db.claims``."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal

from app.domain.campaigns import CampaignState
from app.domain.claims import (
    TERMINAL_STATES,
    ActivatedClaim,
    Admission,
    Claim,
    ClaimDraft,
    ClaimLease,
    ClaimState,
    NewClaim,
    ValidatedClaim,
    check_transition,
)
from app.domain.funnel import ClaimFunnel, TimeBucket
from app.services.trail_steps import claim_admitted
from app.services.unit_of_work import TrailRepository
from tests.fakes.audience import AudienceRow
from tests.fakes.campaigns import CampaignRow
from tests.fakes.tables import Table, TableView, json_column, json_value, numeric_column

MAX_REASON_CHARS = 255  # claims.reason is String(255); the adapter cuts reasons to fit
LIVE_STATES = frozenset({ClaimState.PENDING, ClaimState.VALIDATING, ClaimState.VALIDATED})
# Stale claims are the live ones the reconciler dispatches again; a lease expiry handles validating ones.
WAITING_STATES = frozenset(ClaimState) - TERMINAL_STATES - {ClaimState.VALIDATING}


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """One row of the claims table (a Claim and the lease and dispatch columns only the adapter reads)."""

    id: str
    client_id: int | None
    source: str
    campaign_id: int
    customer_id: str
    promo_code: str | None
    segment: str | None
    session_properties: str  # JSON text
    idempotency_key: str | None
    request_hash: str
    state: ClaimState
    reason: str | None
    correlation_id: str | None
    created_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None
    tier: str | None = None
    reward_type: str | None = None
    reward_amount: Decimal | None = None
    granted_amount: Decimal | None = None
    attempts: int = 0
    activation_attempts: int = 0
    lease_id: str | None = None
    lease_until: datetime | None = None
    validated_at: datetime | None = None
    activated_at: datetime | None = None
    completed_at: datetime | None = None
    reserved_amount: Decimal | None = None

    def to_claim(self) -> Claim:
        """The claim as every layer reads it."""
        values = {f.name: getattr(self, f.name) for f in fields(Claim)}
        return Claim(**{**values, "session_properties": json_value(self.session_properties)})


def claims_table() -> Table[str, ClaimRow]:
    """An empty claims table: one claim per (campaign, customer) and per (client, Idempotency-Key)."""
    return Table(
        "claims",
        unique=lambda row: [
            ("campaign_customer", row.campaign_id, row.customer_id),
            ("client_key", row.client_id, row.idempotency_key),
        ],
    )


class FakeClaims:
    """The claim repository in memory (see ``app.services.unit_of_work.ClaimRepository``)."""

    def __init__(
        self,
        rows: TableView[str, ClaimRow],
        campaigns: TableView[int, CampaignRow],
        audience: TableView[tuple[int, str], AudienceRow],
        trail: TrailRepository,
    ) -> None:
        self._rows = rows
        self._campaigns = campaigns
        self._audience = audience
        self._trail = trail

    def get(self, claim_id: str) -> Claim | None:
        """One claim."""
        row = self._rows.get(claim_id)
        return None if row is None else row.to_claim()

    def get_many(self, claim_ids: Sequence[str]) -> list[Claim]:
        """Several claims, in no particular order."""
        wanted = set(claim_ids)
        return [row.to_claim() for row in self._rows.where(lambda r: r.id in wanted)]

    def find_by_idempotency_key(self, client_id: int | None, key: str) -> Claim | None:
        """The claim a client created with this Idempotency-Key."""
        found = self._rows.where(lambda r: r.client_id == client_id and r.idempotency_key == key)
        return found[0].to_claim() if found else None

    def find_by_customer(self, campaign_id: int, customer_id: str) -> Claim | None:
        """The one claim of a customer in a campaign."""
        found = self._rows.where(lambda r: r.campaign_id == campaign_id and r.customer_id == customer_id)
        return found[0].to_claim() if found else None

    def add(self, claim: NewClaim) -> Claim | None:
        """Insert the claim and return it as stored; None if one exists for its (campaign, customer)
        or (client, idempotency key)."""
        row = ClaimRow(
            id=claim.id,
            client_id=claim.client_id,
            source=claim.source,
            campaign_id=claim.campaign_id,
            customer_id=claim.customer_id,
            promo_code=claim.promo_code,
            segment=claim.segment,
            session_properties=json_column(claim.session_properties),
            idempotency_key=claim.idempotency_key,
            request_hash=claim.request_hash,
            state=claim.state,
            reason=claim.reason,
            correlation_id=claim.correlation_id,
            created_at=claim.created_at,
            updated_at=claim.created_at,
            dispatched_at=claim.created_at if claim.state == ClaimState.PENDING else None,
        )
        return row.to_claim() if self._rows.insert(claim.id, row) else None

    def admit(self, draft: ClaimDraft, *, claimable: frozenset[CampaignState]) -> Admission:
        """Read the campaign; if it takes claims, insert the claim its audience row decides."""
        campaign = self._campaigns.get(draft.campaign_id)
        if campaign is None:
            return Admission(None, None, None)
        admission = Admission(campaign.mode, campaign.state, None)
        if not admission.takes_claims(claimable):
            return admission
        member = self._audience.get((draft.campaign_id, draft.customer_id))
        stored = self.add(draft.judged(member.to_member() if member is not None else None))
        if stored is not None:
            self._trail.append(claim_admitted(draft, stored))
        return Admission(campaign.mode, campaign.state, stored)

    def lease_pending(
        self, *, campaign_id: int, promo_code: str | None, limit: int, lease: timedelta, now: datetime
    ) -> ClaimLease:
        """Move up to `limit` pending claims of one campaign and promo code to validating, oldest first."""
        lease_id = str(uuid.uuid4())
        pending = self._rows.where(
            lambda r: (
                r.state == ClaimState.PENDING
                and r.campaign_id == campaign_id
                and r.promo_code == promo_code
                and not self._rows.locked_elsewhere(r.id)
            )  # SKIP LOCKED
        )
        leased = []
        for row in sorted(pending, key=lambda r: r.created_at)[: max(limit, 0)]:
            moved = replace(
                row,
                state=ClaimState.VALIDATING,
                lease_id=lease_id,
                lease_until=now + lease,
                updated_at=now,
                attempts=row.attempts + 1,
            )
            self._rows.update(row.id, moved)
            leased.append(moved.to_claim())
        return ClaimLease(lease_id, leased)

    def release_lease(self, lease_id: str, *, reason: str, now: datetime) -> list[str]:
        """Put a lease's validating claims back to pending (the validation failed transiently)."""
        return self._move(
            self._rows.where(lambda r: r.lease_id == lease_id and r.state == ClaimState.VALIDATING),
            state=ClaimState.PENDING,
            lease_id=None,
            lease_until=None,
            updated_at=now,
            reason=reason[:MAX_REASON_CHARS],
        )

    def any_on_the_way(self) -> bool:
        """Whether any claim is pending, validating or validated: its status joins the outbox soon."""
        on_the_way = (ClaimState.PENDING, ClaimState.VALIDATING, ClaimState.VALIDATED)
        return bool(self._rows.where(lambda r: r.state in on_the_way))

    def count_pending(self, campaign_id: int, promo_code: str | None, *, up_to: int) -> int:
        """How many claims of this campaign and promo code wait for validation, counting up to `up_to`."""
        pending = self._rows.where(
            lambda r: (
                r.state == ClaimState.PENDING and r.campaign_id == campaign_id and r.promo_code == promo_code
            )
        )
        return min(len(pending), up_to)

    def mark_validated(self, validated: Sequence[ValidatedClaim], *, now: datetime) -> list[str]:
        """Validating claims OptiPromo found eligible become validated, with their tier and reward."""
        check_transition(ClaimState.VALIDATING, ClaimState.VALIDATED)
        moved = []
        for offer in validated:
            row = self._rows.get(offer.claim_id)
            if row is None or row.state != ClaimState.VALIDATING:
                continue
            self._rows.update(
                row.id,
                replace(
                    row,
                    state=ClaimState.VALIDATED,
                    tier=offer.tier,
                    reward_type=offer.reward_type,
                    reward_amount=numeric_column(offer.reward_amount),
                    validated_at=now,
                    updated_at=now,
                    dispatched_at=now,
                    lease_id=None,
                    lease_until=None,
                    reason=None,
                ),
            )
            moved.append(row.id)
        return moved

    def mark_rejected(self, reasons: Mapping[str, str], *, source: ClaimState, now: datetime) -> list[str]:
        """Claims still in `source` (validating or validated) become rejected, each with its reason."""
        check_transition(source, ClaimState.REJECTED)
        return self._move_with_reasons(reasons, frozenset({source}), ClaimState.REJECTED, now)

    def mark_failed(self, reasons: Mapping[str, str], *, now: datetime) -> list[str]:
        """Live claims (pending, validating, validated) become failed, each with its reason."""
        return self._move_with_reasons(reasons, LIVE_STATES, ClaimState.FAILED, now)

    def _move_with_reasons(
        self, reasons: Mapping[str, str], sources: frozenset[ClaimState], target: ClaimState, now: datetime
    ) -> list[str]:
        moved = []
        for claim_id, reason in reasons.items():
            row = self._rows.get(claim_id)
            if row is None or row.state not in sources:
                continue
            self._rows.update(
                claim_id,
                replace(
                    row,
                    state=target,
                    reason=reason[:MAX_REASON_CHARS],
                    updated_at=now,
                    lease_id=None,
                    lease_until=None,
                ),
            )
            moved.append(claim_id)
        return moved

    def reserve_activation_attempts(
        self, claim_ids: Sequence[str], *, max_attempts: int, now: datetime
    ) -> dict[str, int]:
        """Count one more grant attempt for validated claims under `max_attempts`; their attempt numbers."""
        wanted = set(claim_ids)
        reserved = {}
        for row in self._rows.where(
            lambda r: (
                r.id in wanted and r.state == ClaimState.VALIDATED and r.activation_attempts < max_attempts
            )
        ):
            attempt = row.activation_attempts + 1
            self._rows.update(
                row.id, replace(row, activation_attempts=attempt, dispatched_at=now, updated_at=now)
            )
            reserved[row.id] = attempt
        return reserved

    def schedule_activation_retry(
        self, reasons: Mapping[str, str], *, due_at: datetime, now: datetime
    ) -> None:
        """Validated claims wait for another activation round, due at `due_at`, keeping their last error."""
        for claim_id, reason in reasons.items():
            row = self._rows.get(claim_id)
            if row is not None and row.state == ClaimState.VALIDATED:
                self._rows.update(
                    claim_id,
                    replace(row, reason=reason[:MAX_REASON_CHARS], dispatched_at=due_at, updated_at=now),
                )

    def mark_activated(self, activated: Sequence[ActivatedClaim], *, now: datetime) -> list[str]:
        """Validated claims (or failed ones whose grant was confirmed late) become activated."""
        check_transition(ClaimState.VALIDATED, ClaimState.ACTIVATED)
        check_transition(ClaimState.FAILED, ClaimState.ACTIVATED)
        moved = []
        for grant in activated:
            row = self._rows.get(grant.claim_id)
            if row is None or row.state not in (ClaimState.VALIDATED, ClaimState.FAILED):
                continue
            self._rows.update(
                row.id,
                replace(
                    row,
                    state=ClaimState.ACTIVATED,
                    granted_amount=numeric_column(grant.granted_amount),
                    activated_at=now,
                    updated_at=now,
                    dispatched_at=now,
                    reason=None,
                ),
            )
            moved.append(row.id)
        return moved

    def reserve_rewards(
        self, campaign_id: int, amounts: Mapping[str, Decimal], *, now: datetime
    ) -> list[str]:
        """Hold each amount for a validated claim of the campaign holding none yet, and add what was
        held to the campaign's reserved rewards and amount; the claims that now hold a reservation."""
        reserved: list[tuple[str, Decimal]] = []
        for claim_id, amount in amounts.items():
            row = self._rows.get(claim_id)
            if (
                row is None
                or row.campaign_id != campaign_id
                or row.state != ClaimState.VALIDATED
                or row.reserved_amount is not None
            ):
                continue
            held = numeric_column(amount)
            assert held is not None
            self._rows.update(claim_id, replace(row, reserved_amount=held, updated_at=now))
            reserved.append((claim_id, held))
        if reserved:
            self._add_reserved(campaign_id, len(reserved), sum((a for _, a in reserved), Decimal(0)), now)
        return [claim_id for claim_id, _ in reserved]

    def release_reservations(self, claim_ids: Sequence[str], *, now: datetime) -> int:
        """Claims not activated give their reservation back to their campaign; how many did."""
        released = 0
        for claim_id in dict.fromkeys(claim_ids):
            row = self._rows.get(claim_id)
            if (
                row is None
                or row.reserved_amount is None
                or row.state in (ClaimState.ACTIVATED, ClaimState.COMPLETED)
            ):
                continue
            self._rows.update(claim_id, replace(row, reserved_amount=None, updated_at=now))
            self._add_reserved(row.campaign_id, -1, -row.reserved_amount, now)
            released += 1
        return released

    def _add_reserved(self, campaign_id: int, rewards: int, amount: Decimal, now: datetime) -> None:
        campaign = self._campaigns.get(campaign_id)
        if campaign is not None:
            self._campaigns.update(
                campaign_id,
                replace(
                    campaign,
                    rewards_reserved=campaign.rewards_reserved + rewards,
                    amount_reserved=campaign.amount_reserved + amount,
                    updated_at=now,
                ),
            )

    def mark_completed(self, campaign_id: int, customer_ids: Sequence[str], *, now: datetime) -> int:
        """Activated claims whose status Optimove accepted become completed; how many did."""
        customers = set(customer_ids)
        return len(
            self._move(
                self._rows.where(
                    lambda r: (
                        r.campaign_id == campaign_id
                        and r.customer_id in customers
                        and r.state == ClaimState.ACTIVATED
                    )
                ),
                state=ClaimState.COMPLETED,
                updated_at=now,
                completed_at=now,
            )
        )

    def expire_leases(self, *, now: datetime) -> list[str]:
        """Validating claims whose lease ran out (their worker died) go back to pending."""
        return self._move(
            self._rows.where(
                lambda r: (
                    r.state == ClaimState.VALIDATING and r.lease_until is not None and r.lease_until < now
                )
            ),
            state=ClaimState.PENDING,
            lease_id=None,
            lease_until=None,
            updated_at=now,
        )

    def stale(self, *, stale_before: datetime, limit: int) -> list[tuple[str, ClaimState]]:
        """Live claims neither touched nor dispatched since `stale_before` (their task was lost)."""
        stale = self._rows.where(
            lambda r: (
                r.state in WAITING_STATES
                and (r.dispatched_at is None or r.dispatched_at < stale_before)
                and r.updated_at < stale_before
            )
        )
        stale.sort(key=lambda r: r.updated_at)
        return [(row.id, row.state) for row in stale[: max(limit, 0)]]

    def mark_dispatched(self, claim_ids: Sequence[str], *, now: datetime) -> None:
        """Remember when work for these claims was last handed to the workers."""
        wanted = set(claim_ids)
        self._move(self._rows.where(lambda r: r.id in wanted), dispatched_at=now)

    def reopen_failed(self, claim_ids: Sequence[str], *, now: datetime) -> list[str]:
        """Failed claims go back to pending with a fresh budget of activation attempts (a replay)."""
        check_transition(ClaimState.FAILED, ClaimState.PENDING)
        wanted = set(claim_ids)
        return self._move(
            self._rows.where(lambda r: r.id in wanted and r.state == ClaimState.FAILED),
            state=ClaimState.PENDING,
            reason=None,
            dispatched_at=now,
            updated_at=now,
            activation_attempts=0,
        )

    def failed_ids(self, *, limit: int = 10_000, campaign_id: int | None = None) -> list[str]:
        """Claims that used up their retries (of one campaign, when given), oldest first."""
        failed = sorted(
            (row for row in self._of_campaign(campaign_id) if row.state == ClaimState.FAILED),
            key=lambda r: r.updated_at,
        )
        return [row.id for row in failed[: max(limit, 0)]]

    def funnel(self, campaign_id: int) -> ClaimFunnel:
        """The campaign's claims by state and reason, and how many were validated and rewarded."""
        rows = self._of_campaign(campaign_id)
        by_reason = {
            state: dict(Counter(str(row.reason) for row in rows if row.state == state))
            for state in (ClaimState.REJECTED, ClaimState.FAILED)
        }
        return ClaimFunnel(
            by_state=dict(Counter(str(row.state) for row in rows)),
            rejected_by_reason=by_reason[ClaimState.REJECTED],
            failed_by_reason=by_reason[ClaimState.FAILED],
            validated=sum(row.validated_at is not None for row in rows),
            rewarded=sum(row.activated_at is not None for row in rows),
        )

    def per_minute(self, campaign_id: int, *, since: datetime) -> list[TimeBucket]:
        """Claims submitted per minute since `since`, oldest minute first (empty minutes omitted)."""
        minutes = Counter(
            row.created_at.replace(second=0, microsecond=0)
            for row in self._of_campaign(campaign_id)
            if row.created_at >= since
        )
        return [TimeBucket(minute, count) for minute, count in sorted(minutes.items())]

    def validation_batches(self, campaign_id: int, *, since: datetime, limit: int) -> list[TimeBucket]:
        """The latest validation batches of claims submitted since `since`, newest first."""
        batches = Counter(
            row.validated_at
            for row in self._of_campaign(campaign_id)
            if row.created_at >= since and row.validated_at is not None
        )
        newest_first = sorted(batches.items(), key=lambda item: item[0], reverse=True)
        return [TimeBucket(at, count) for at, count in newest_first[: max(limit, 0)]]

    def recent_failed(self, campaign_id: int, *, limit: int) -> list[Claim]:
        """The campaign's failed claims, the most recently failed first."""
        failed = [row for row in self._of_campaign(campaign_id) if row.state == ClaimState.FAILED]
        failed.sort(key=lambda r: r.updated_at, reverse=True)
        return [row.to_claim() for row in failed[: max(limit, 0)]]

    def counts_by_state(self, campaign_id: int | None = None) -> dict[str, int]:
        """How many claims are in each state."""
        rows = self._of_campaign(campaign_id)
        return dict(Counter(str(row.state) for row in rows))

    def counts_by_reason(self, campaign_id: int | None = None) -> dict[str, int]:
        """Rejected and failed claims by reason (a missing reason counts as "None", as str() of NULL)."""
        ended = (ClaimState.REJECTED, ClaimState.FAILED)
        return dict(Counter(str(row.reason) for row in self._of_campaign(campaign_id) if row.state in ended))

    def _of_campaign(self, campaign_id: int | None) -> list[ClaimRow]:
        return self._rows.where(lambda r: campaign_id is None or r.campaign_id == campaign_id)

    def _move(self, rows: list[ClaimRow], **changes: object) -> list[str]:
        """Apply the same changes to every row (one set-based UPDATE); the ids that moved."""
        for row in rows:
            self._rows.update(row.id, replace(row, **changes))  # type: ignore[arg-type]
        return [row.id for row in rows]
