"""Claim rows: inserted once per (campaign, customer), moved only by state-guarded, set-based updates.

Each operation is one statement per batch and outcome, whatever the batch size (values that differ
per claim travel as a VALUES list joined to the table). Claims that become final (completed,
rejected, failed) wake their long polls when the transaction commits (``notify_claims_final``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Numeric, String, and_, bindparam, cast, func, or_, select, update
from sqlalchemy.types import TypeEngine

from app.adapters.db.audience import SqlAudience
from app.adapters.db.dialect import (
    insert_ignoring_any_conflict,
    is_postgres,
    lock_for_update,
    locked_batch_ids,
    minute_of,
    row_sources,
)
from app.adapters.db.notifications import notify_claims_final
from app.adapters.db.tables import campaigns, claims
from app.adapters.db.trail import NoTrail, SqlTrail
from app.clock import as_utc
from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.claims import (
    NOT_IN_AUDIENCE,
    SCRUBBED_PREFIX,
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
from app.domain.trail import CLAIM_RECEIVED, CLAIM_REJECTED
from app.services.trail_steps import claim_admitted

MAX_REASON_CHARS = 255
_AMOUNT = Numeric(18, 4)
LIVE_STATES = (ClaimState.PENDING, ClaimState.VALIDATING, ClaimState.VALIDATED)

# A claim admitted in one statement (PostgreSQL): the campaign, the customer's audience row, and
# the insert they decide (the rule of ``ClaimDraft.judged``, said in SQL), so that the claims
# endpoint's transaction is this statement and its COMMIT. Written as driver SQL: it runs once per
# claim request, and building and compiling a Core INSERT with RETURNING cost more CPU than the
# database spends on it. Exactly one row comes back: the campaign's mode and state (NULL when it
# is unknown) and the stored claim (NULL when nothing was inserted). With the trail on, the stored
# claim's steps (``trail_steps.claim_received``, said in SQL: the received step, then the rejection
# when it was rejected at once) are appended by the same statement: no round trip of their own.
_ADMIT_SQL = """
WITH campaign AS (
    SELECT mode, state FROM campaigns WHERE id = %(campaign_id)s
), member AS (
    SELECT eligible, scrub_reason, promo_code, segment FROM campaign_audience
    WHERE campaign_id = %(campaign_id)s AND customer_id = %(customer_id)s
), stored AS (
    INSERT INTO claims (
        id, client_id, source, campaign_id, customer_id, promo_code, segment, session_properties,
        idempotency_key, request_hash, state, reason, correlation_id, created_at, updated_at,
        dispatched_at
    )
    SELECT
        %(id)s, %(client_id)s, %(source)s, %(campaign_id)s, %(customer_id)s, member.promo_code,
        member.segment, CAST(%(session_properties)s AS JSON), %(idempotency_key)s, %(request_hash)s,
        CASE WHEN member.eligible THEN %(pending)s ELSE %(rejected)s END,
        CASE
            WHEN member.eligible IS NULL THEN %(not_in_audience)s
            WHEN NOT member.eligible THEN %(scrubbed)s || COALESCE(member.scrub_reason, 'None')
        END,
        %(correlation_id)s, %(created_at)s, %(created_at)s,
        CASE WHEN member.eligible THEN %(created_at)s END
    FROM campaign LEFT JOIN member ON TRUE
    WHERE campaign.mode = %(claim_mode)s AND campaign.state IN %(claimable)s
    ON CONFLICT DO NOTHING
    RETURNING *
), trail AS (
    INSERT INTO trail_events (campaign_id, customer_id, at, step, details)
    SELECT stored.campaign_id, stored.customer_id, stored.created_at, step.name, step.details
    FROM stored CROSS JOIN LATERAL (VALUES
        (1, %(received_step)s, jsonb_build_object(
            'claim_id', stored.id, 'source', stored.source, 'client_id', stored.client_id,
            'client', CAST(%(client_name)s AS TEXT), 'key_id', CAST(%(key_id)s AS TEXT),
            'idempotency_key', stored.idempotency_key IS NOT NULL, 'request_id', stored.correlation_id,
            'promo_code', stored.promo_code, 'segment', stored.segment
        )),
        (2, %(rejected_step)s, CASE WHEN stored.reason IS NOT NULL THEN jsonb_build_object(
            'claim_id', stored.id, 'reason', stored.reason, 'at_once', TRUE
        ) END)
    ) AS step (n, name, details)
    WHERE %(record_trail)s AND step.details IS NOT NULL
    ORDER BY step.n
)
SELECT campaign.mode AS campaign_mode, campaign.state AS campaign_state, stored.*
FROM (SELECT 1) AS one LEFT JOIN campaign ON TRUE LEFT JOIN stored ON TRUE
"""


def _claim(row: Any) -> Claim:
    return Claim(
        id=row["id"],
        client_id=row["client_id"],
        source=row["source"],
        campaign_id=row["campaign_id"],
        customer_id=row["customer_id"],
        promo_code=row["promo_code"],
        segment=row["segment"],
        session_properties=dict(row["session_properties"] or {}),
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        state=ClaimState(row["state"]),
        reason=row["reason"],
        tier=row["tier"],
        reward_type=row["reward_type"],
        reward_amount=row["reward_amount"],
        granted_amount=row["granted_amount"],
        attempts=row["attempts"],
        activation_attempts=row["activation_attempts"],
        correlation_id=row["correlation_id"],
        created_at=as_utc(row["created_at"]) or row["created_at"],
        updated_at=as_utc(row["updated_at"]) or row["updated_at"],
        validated_at=as_utc(row["validated_at"]),
        activated_at=as_utc(row["activated_at"]),
        completed_at=as_utc(row["completed_at"]),
        reserved_amount=row.get("reserved_amount"),
    )


class SqlClaims:
    """The claim repository on one connection (see ``app.services.unit_of_work.ClaimRepository``)."""

    def __init__(self, conn: Connection, trail: SqlTrail | NoTrail | None = None) -> None:
        self._conn = conn
        # Where admit() puts a new claim's steps (its unit of work's trail; none by default).
        self._trail: SqlTrail | NoTrail = trail if trail is not None else NoTrail()

    def get(self, claim_id: str) -> Claim | None:
        """One claim."""
        row = self._conn.execute(select(claims).where(claims.c.id == claim_id)).mappings().first()
        return None if row is None else _claim(row)

    def get_many(self, claim_ids: Sequence[str]) -> list[Claim]:
        """Several claims, in no particular order."""
        if not claim_ids:
            return []
        rows = self._conn.execute(select(claims).where(claims.c.id.in_(list(claim_ids)))).mappings()
        return [_claim(row) for row in rows]

    def find_by_idempotency_key(self, client_id: int | None, key: str) -> Claim | None:
        """The claim a client created with this Idempotency-Key."""
        owner = claims.c.client_id.is_(None) if client_id is None else claims.c.client_id == client_id
        query = select(claims).where(owner, claims.c.idempotency_key == key)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _claim(row)

    def find_by_customer(self, campaign_id: int, customer_id: str) -> Claim | None:
        """The one claim of a customer in a campaign."""
        query = select(claims).where(claims.c.campaign_id == campaign_id, claims.c.customer_id == customer_id)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _claim(row)

    def add(self, claim: NewClaim) -> Claim | None:
        """Insert the claim and return it as stored; None if one exists for its (campaign, customer) or
        (client, key)."""
        pending = claim.state == ClaimState.PENDING
        statement = (
            insert_ignoring_any_conflict(self._conn, claims)
            .values(
                id=claim.id,
                client_id=claim.client_id,
                source=claim.source,
                campaign_id=claim.campaign_id,
                customer_id=claim.customer_id,
                promo_code=claim.promo_code,
                segment=claim.segment,
                session_properties=claim.session_properties,
                idempotency_key=claim.idempotency_key,
                request_hash=claim.request_hash,
                state=claim.state.value,
                reason=claim.reason,
                correlation_id=claim.correlation_id,
                created_at=claim.created_at,
                updated_at=claim.created_at,
                dispatched_at=claim.created_at if pending else None,
            )
            .returning(*claims.c)
        )
        row = self._conn.execute(statement).mappings().first()
        if row is None:
            return None
        if claim.state in TERMINAL_STATES:
            notify_claims_final(self._conn, [claim.id])
        return _claim(row)

    def admit(self, draft: ClaimDraft, *, claimable: frozenset[CampaignState]) -> Admission:
        """Read the campaign; if it takes claims, insert the claim its audience row decides (one
        statement on PostgreSQL; see ``app.services.unit_of_work.ClaimRepository.admit``)."""
        if not is_postgres(self._conn) or not claimable:  # (`IN ()` is no SQL)
            return self._admit_in_steps(draft, claimable)
        parameters = {
            "id": draft.id,
            "client_id": draft.client_id,
            "source": draft.source,
            "campaign_id": draft.campaign_id,
            "customer_id": draft.customer_id,
            "session_properties": json.dumps(draft.session_properties),
            "idempotency_key": draft.idempotency_key,
            "request_hash": draft.request_hash,
            "pending": ClaimState.PENDING.value,
            "rejected": ClaimState.REJECTED.value,
            "not_in_audience": NOT_IN_AUDIENCE,
            "scrubbed": SCRUBBED_PREFIX,
            "correlation_id": draft.correlation_id,
            "created_at": draft.created_at,
            "claim_mode": CampaignMode.CLAIM.value,
            "claimable": tuple(sorted(state.value for state in claimable)),
            "record_trail": self._trail.recording,
            "received_step": CLAIM_RECEIVED,
            "rejected_step": CLAIM_REJECTED,
            "client_name": draft.client_name,
            "key_id": draft.key_id,
        }
        row = self._conn.exec_driver_sql(_ADMIT_SQL, parameters).mappings().one()
        mode, state = row["campaign_mode"], row["campaign_state"]
        admission = Admission(
            CampaignMode(mode) if mode is not None else None,
            CampaignState(state) if state is not None else None,
            _claim(row) if row["id"] is not None else None,
        )
        if admission.stored is not None and admission.stored.state in TERMINAL_STATES:
            notify_claims_final(self._conn, [admission.stored.id])
        return admission

    def _admit_in_steps(self, draft: ClaimDraft, claimable: frozenset[CampaignState]) -> Admission:
        found = self._conn.execute(
            select(campaigns.c.mode, campaigns.c.state).where(campaigns.c.id == draft.campaign_id)
        ).first()
        if found is None:
            return Admission(None, None, None)
        admission = Admission(CampaignMode(found[0]), CampaignState(found[1]), None)
        if not admission.takes_claims(claimable):
            return admission
        member = SqlAudience(self._conn).member(draft.campaign_id, draft.customer_id)
        stored = self.add(draft.judged(member))
        if stored is not None:
            self._trail.append(claim_admitted(draft, stored))
        return Admission(admission.mode, admission.state, stored)

    def lease_pending(
        self, *, campaign_id: int, promo_code: str | None, limit: int, lease: timedelta, now: datetime
    ) -> ClaimLease:
        """Move up to `limit` pending claims of one campaign and promo code to validating, oldest first."""
        lease_id = str(uuid.uuid4())
        code = claims.c.promo_code.is_(None) if promo_code is None else claims.c.promo_code == promo_code
        batch = locked_batch_ids(
            self._conn,
            select(claims.c.id)
            .where(claims.c.state == ClaimState.PENDING.value, claims.c.campaign_id == campaign_id, code)
            .order_by(claims.c.created_at)
            .limit(limit),
            "claim_batch",
        )
        rows = self._conn.execute(
            update(claims)
            .where(claims.c.id.in_(batch), claims.c.state == ClaimState.PENDING.value)
            .values(
                state=ClaimState.VALIDATING.value,
                lease_id=lease_id,
                lease_until=now + lease,
                updated_at=now,
                attempts=claims.c.attempts + 1,
            )
            .returning(*claims.c)
        ).mappings()
        return ClaimLease(lease_id, sorted((_claim(row) for row in rows), key=lambda c: c.created_at))

    def release_lease(self, lease_id: str, *, reason: str, now: datetime) -> list[str]:
        """Put a lease's validating claims back to pending (the validation failed transiently)."""
        result = self._conn.execute(
            update(claims)
            .where(claims.c.lease_id == lease_id, claims.c.state == ClaimState.VALIDATING.value)
            .values(
                state=ClaimState.PENDING.value,
                lease_id=None,
                lease_until=None,
                updated_at=now,
                reason=reason[:MAX_REASON_CHARS],
            )
            .returning(claims.c.id)
        )
        return list(result.scalars())

    def any_on_the_way(self) -> bool:
        """Whether any claim is pending, validating or validated: its status joins the outbox soon."""
        on_the_way = [ClaimState.PENDING.value, ClaimState.VALIDATING.value, ClaimState.VALIDATED.value]
        query = select(claims.c.id).where(claims.c.state.in_(on_the_way)).limit(1)
        return self._conn.execute(query).first() is not None

    def count_pending(self, campaign_id: int, promo_code: str | None, *, up_to: int) -> int:
        """How many claims of this campaign and promo code wait for validation, counting up to `up_to`."""
        code = claims.c.promo_code.is_(None) if promo_code is None else claims.c.promo_code == promo_code
        waiting = (
            select(claims.c.id)
            .where(claims.c.state == ClaimState.PENDING.value, claims.c.campaign_id == campaign_id, code)
            .limit(up_to)
            .subquery()
        )
        return int(self._conn.execute(select(func.count()).select_from(waiting)).scalar_one())

    def mark_validated(self, validated: Sequence[ValidatedClaim], *, now: datetime) -> list[str]:
        """Validating claims OptiPromo found eligible become validated, with their tier and reward."""
        if not validated:
            return []
        check_transition(ClaimState.VALIDATING, ClaimState.VALIDATED)
        columns: list[tuple[str, TypeEngine[Any]]] = [
            ("claim_id", String()),
            ("tier", String()),
            ("reward_type", String()),
            ("amount", _AMOUNT),
        ]
        rows = [(v.claim_id, v.tier, v.reward_type, v.reward_amount) for v in validated]
        moved: list[str] = []
        for offers in row_sources(self._conn, "offers", columns, rows):
            result = self._conn.execute(
                update(claims)
                .where(claims.c.id == offers.c.claim_id, claims.c.state == ClaimState.VALIDATING.value)
                .values(
                    state=ClaimState.VALIDATED.value,
                    tier=offers.c.tier,
                    reward_type=offers.c.reward_type,
                    # A VALUES column of NULLs only is typed text on PostgreSQL: say it is an amount.
                    reward_amount=cast(offers.c.amount, _AMOUNT),
                    validated_at=now,
                    updated_at=now,
                    dispatched_at=now,
                    lease_id=None,
                    lease_until=None,
                    reason=None,
                )
                .returning(claims.c.id)
            )
            moved += result.scalars()
        return moved

    def mark_rejected(self, reasons: Mapping[str, str], *, source: ClaimState, now: datetime) -> list[str]:
        """Claims still in `source` (validating or validated) become rejected, each with its reason."""
        check_transition(source, ClaimState.REJECTED)
        return self._move_with_reasons(reasons, (source,), ClaimState.REJECTED, now)

    def mark_failed(self, reasons: Mapping[str, str], *, now: datetime) -> list[str]:
        """Live claims (pending, validating, validated) become failed, each with its reason."""
        return self._move_with_reasons(reasons, LIVE_STATES, ClaimState.FAILED, now)

    def _move_with_reasons(
        self, reasons: Mapping[str, str], sources: Sequence[ClaimState], target: ClaimState, now: datetime
    ) -> list[str]:
        if not reasons:
            return []
        rows = [(claim_id, reason[:MAX_REASON_CHARS]) for claim_id, reason in reasons.items()]
        moved: list[str] = []
        for why in row_sources(self._conn, "why", [("claim_id", String()), ("why", String())], rows):
            result = self._conn.execute(
                update(claims)
                .where(claims.c.id == why.c.claim_id, claims.c.state.in_([s.value for s in sources]))
                .values(state=target.value, reason=why.c.why, updated_at=now, lease_id=None, lease_until=None)
                .returning(claims.c.id)
            )
            moved += result.scalars()
        notify_claims_final(self._conn, moved)
        return moved

    def reserve_activation_attempts(
        self, claim_ids: Sequence[str], *, max_attempts: int, now: datetime
    ) -> dict[str, int]:
        """Count one more grant attempt for validated claims under `max_attempts`.

        Counted before the POST, in its own transaction, so that nothing after it (a worker killed
        mid-call, a redelivered or re-dispatched task) can make the POSTs per grant exceed
        `max_attempts`. Returns each reserved claim's attempt number (1 for the first).
        """
        if not claim_ids:
            return {}
        rows = self._conn.execute(
            update(claims)
            .where(
                claims.c.id.in_(list(claim_ids)),
                claims.c.state == ClaimState.VALIDATED.value,
                claims.c.activation_attempts < max_attempts,
            )
            .values(activation_attempts=claims.c.activation_attempts + 1, dispatched_at=now, updated_at=now)
            .returning(claims.c.id, claims.c.activation_attempts)
        )
        return {row[0]: int(row[1]) for row in rows}

    def schedule_activation_retry(
        self, reasons: Mapping[str, str], *, due_at: datetime, now: datetime
    ) -> None:
        """Validated claims wait for another round, due at `due_at`, keeping their last error.

        `dispatched_at` is set to the due time, so the reconciler leaves the claim to its scheduled
        retry until `due_at` plus its staleness delay.
        """
        if not reasons:
            return
        self._conn.execute(
            update(claims)
            .where(claims.c.id == bindparam("claim_id"), claims.c.state == ClaimState.VALIDATED.value)
            .values(reason=bindparam("last_error"), dispatched_at=due_at, updated_at=now),
            [
                {"claim_id": claim_id, "last_error": reason[:MAX_REASON_CHARS]}
                for claim_id, reason in reasons.items()
            ],
        )

    def mark_activated(self, activated: Sequence[ActivatedClaim], *, now: datetime) -> list[str]:
        """Validated claims, or failed ones whose grant the platform confirmed late, become activated."""
        if not activated:
            return []
        check_transition(ClaimState.VALIDATED, ClaimState.ACTIVATED)
        check_transition(ClaimState.FAILED, ClaimState.ACTIVATED)
        rows = [(a.claim_id, a.granted_amount) for a in activated]
        moved: list[str] = []
        for granted in row_sources(
            self._conn, "granted", [("claim_id", String()), ("amount", _AMOUNT)], rows
        ):
            result = self._conn.execute(
                update(claims)
                .where(
                    claims.c.id == granted.c.claim_id,
                    claims.c.state.in_([ClaimState.VALIDATED.value, ClaimState.FAILED.value]),
                )
                .values(
                    state=ClaimState.ACTIVATED.value,
                    granted_amount=granted.c.amount,
                    activated_at=now,
                    updated_at=now,
                    dispatched_at=now,
                    reason=None,
                )
                .returning(claims.c.id)
            )
            moved += result.scalars()
        return moved

    def reserve_rewards(
        self, campaign_id: int, amounts: Mapping[str, Decimal], *, now: datetime
    ) -> list[str]:
        """Hold each amount for a validated claim of the campaign holding none yet, and add what was
        held to the campaign's reserved rewards and amount; the claims that now hold a reservation."""
        if not amounts:
            return []
        reserved: list[tuple[str, Decimal]] = []
        for held in row_sources(
            self._conn, "held", [("claim_id", String()), ("amount", _AMOUNT)], list(amounts.items())
        ):
            result = self._conn.execute(
                update(claims)
                .where(
                    claims.c.id == held.c.claim_id,
                    claims.c.campaign_id == campaign_id,
                    claims.c.state == ClaimState.VALIDATED.value,
                    claims.c.reserved_amount.is_(None),
                )
                .values(reserved_amount=held.c.amount, updated_at=now)
                .returning(claims.c.id, claims.c.reserved_amount)
            )
            reserved += [(row[0], Decimal(row[1])) for row in result]
        if reserved:
            self._conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id)
                .values(
                    rewards_reserved=campaigns.c.rewards_reserved + len(reserved),
                    amount_reserved=campaigns.c.amount_reserved + sum(a for _, a in reserved),
                    updated_at=now,
                )
            )
        return [claim_id for claim_id, _ in reserved]

    def release_reservations(self, claim_ids: Sequence[str], *, now: datetime) -> int:
        """Claims not activated give their reservation back to their campaign; how many did."""
        if not claim_ids:
            return 0
        holding = and_(
            claims.c.id.in_(list(claim_ids)),
            claims.c.reserved_amount.is_not(None),
            claims.c.state.not_in([ClaimState.ACTIVATED.value, ClaimState.COMPLETED.value]),
        )
        held = self._conn.execute(
            lock_for_update(
                self._conn, select(claims.c.id, claims.c.campaign_id, claims.c.reserved_amount).where(holding)
            )
        ).all()
        if not held:
            return 0
        self._conn.execute(
            update(claims)
            .where(claims.c.id.in_([row[0] for row in held]))
            .values(reserved_amount=None, updated_at=now)
        )
        for campaign_id in sorted({row[1] for row in held}):
            given = [Decimal(row[2]) for row in held if row[1] == campaign_id]
            self._conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id)
                .values(
                    rewards_reserved=campaigns.c.rewards_reserved - len(given),
                    amount_reserved=campaigns.c.amount_reserved - sum(given),
                    updated_at=now,
                )
            )
        return len(held)

    def mark_completed(self, campaign_id: int, customer_ids: Sequence[str], *, now: datetime) -> int:
        """Activated claims whose status Optimove accepted become completed (their long polls wake)."""
        if not customer_ids:
            return 0
        result = self._conn.execute(
            update(claims)
            .where(
                claims.c.campaign_id == campaign_id,
                claims.c.customer_id.in_(list(customer_ids)),
                claims.c.state == ClaimState.ACTIVATED.value,
            )
            .values(state=ClaimState.COMPLETED.value, updated_at=now, completed_at=now)
            .returning(claims.c.id)
        )
        completed = list(result.scalars())
        notify_claims_final(self._conn, completed)
        return len(completed)

    def expire_leases(self, *, now: datetime) -> list[str]:
        """Validating claims whose lease ran out (their worker died) go back to pending."""
        result = self._conn.execute(
            update(claims)
            .where(claims.c.state == ClaimState.VALIDATING.value, claims.c.lease_until < now)
            .values(state=ClaimState.PENDING.value, lease_id=None, lease_until=None, updated_at=now)
            .returning(claims.c.id)
        )
        return list(result.scalars())

    def stale(self, *, stale_before: datetime, limit: int) -> list[tuple[str, ClaimState]]:
        """Live claims neither touched nor dispatched since `stale_before` (their task was lost)."""
        waiting = [state.value for state in ClaimState if state not in TERMINAL_STATES]
        waiting.remove(ClaimState.VALIDATING.value)  # a lease expiry handles those
        rows = self._conn.execute(
            select(claims.c.id, claims.c.state)
            .where(
                claims.c.state.in_(waiting),
                or_(claims.c.dispatched_at.is_(None), claims.c.dispatched_at < stale_before),
                claims.c.updated_at < stale_before,
            )
            .order_by(claims.c.updated_at)
            .limit(limit)
        )
        return [(row[0], ClaimState(row[1])) for row in rows]

    def mark_dispatched(self, claim_ids: Sequence[str], *, now: datetime) -> None:
        """Remember when work for these claims was last handed to the workers."""
        if claim_ids:
            self._conn.execute(
                update(claims).where(claims.c.id.in_(list(claim_ids))).values(dispatched_at=now)
            )

    def reopen_failed(self, claim_ids: Sequence[str], *, now: datetime) -> list[str]:
        """Failed claims go back to pending with a fresh budget of activation attempts (a replay)."""
        check_transition(ClaimState.FAILED, ClaimState.PENDING)
        if not claim_ids:
            return []
        result = self._conn.execute(
            update(claims)
            .where(claims.c.id.in_(list(claim_ids)), claims.c.state == ClaimState.FAILED.value)
            # A replay is an operator's decision, after a fix: it gets a fresh budget of attempts.
            .values(
                state=ClaimState.PENDING.value,
                reason=None,
                dispatched_at=now,
                updated_at=now,
                activation_attempts=0,
            )
            .returning(claims.c.id)
        )
        return list(result.scalars())

    def failed_ids(self, *, limit: int = 10_000, campaign_id: int | None = None) -> list[str]:
        """Claims that used up their retries (of one campaign, when given), oldest first."""
        query = (
            select(claims.c.id)
            .where(claims.c.state == ClaimState.FAILED.value)
            .order_by(claims.c.updated_at)
            .limit(limit)
        )
        if campaign_id is not None:
            query = query.where(claims.c.campaign_id == campaign_id)
        return list(self._conn.execute(query).scalars())

    def counts_by_state(self, campaign_id: int | None = None) -> dict[str, int]:
        """How many claims are in each state."""
        query = select(claims.c.state, func.count()).group_by(claims.c.state)
        if campaign_id is not None:
            query = query.where(claims.c.campaign_id == campaign_id)
        return {str(state): int(count) for state, count in self._conn.execute(query)}

    def counts_by_reason(self, campaign_id: int | None = None) -> dict[str, int]:
        """Rejected and failed claims by reason."""
        query = (
            select(claims.c.reason, func.count())
            .where(claims.c.state.in_([ClaimState.REJECTED.value, ClaimState.FAILED.value]))
            .group_by(claims.c.reason)
        )
        if campaign_id is not None:
            query = query.where(claims.c.campaign_id == campaign_id)
        return {str(reason): int(count) for reason, count in self._conn.execute(query)}

    def funnel(self, campaign_id: int) -> ClaimFunnel:
        """The campaign's claims by state and reason, and how many were validated and rewarded.

        One grouped pass over the campaign's claims (its index on campaign_id).
        """
        rows = self._conn.execute(
            select(
                claims.c.state,
                claims.c.reason,
                func.count(),
                func.count(claims.c.validated_at),
                func.count(claims.c.activated_at),
            )
            .where(claims.c.campaign_id == campaign_id)
            .group_by(claims.c.state, claims.c.reason)
        ).all()
        by_state: dict[str, int] = {}
        rejected: dict[str, int] = {}
        failed: dict[str, int] = {}
        validated = rewarded = 0
        for state, reason, count, with_validation, with_activation in rows:
            by_state[str(state)] = by_state.get(str(state), 0) + int(count)
            validated += int(with_validation)
            rewarded += int(with_activation)
            if state in (ClaimState.REJECTED.value, ClaimState.FAILED.value):
                into = rejected if state == ClaimState.REJECTED.value else failed
                into[str(reason)] = into.get(str(reason), 0) + int(count)
        return ClaimFunnel(by_state, rejected, failed, validated, rewarded)

    def per_minute(self, campaign_id: int, *, since: datetime) -> list[TimeBucket]:
        """Claims submitted per minute since `since`, oldest minute first (minutes without any omitted)."""
        minute = minute_of(self._conn, claims.c.created_at)
        rows = self._conn.execute(
            select(minute, func.count())
            .where(claims.c.campaign_id == campaign_id, claims.c.created_at >= since)
            .group_by(minute)
            .order_by(minute)
        )
        return [TimeBucket(_as_time(at), int(count)) for at, count in rows]

    def validation_batches(self, campaign_id: int, *, since: datetime, limit: int) -> list[TimeBucket]:
        """The latest validation batches of claims submitted since `since`, newest first.

        A batch's claims share their validated_at; `since` bounds the read to recent claims (the
        campaign and time index), however many the campaign has.
        """
        rows = self._conn.execute(
            select(claims.c.validated_at, func.count())
            .where(
                claims.c.campaign_id == campaign_id,
                claims.c.created_at >= since,
                claims.c.validated_at.is_not(None),
            )
            .group_by(claims.c.validated_at)
            .order_by(claims.c.validated_at.desc())
            .limit(limit)
        )
        return [TimeBucket(_as_time(at), int(count)) for at, count in rows]

    def recent_failed(self, campaign_id: int, *, limit: int) -> list[Claim]:
        """The campaign's failed claims, the most recently failed first."""
        query = (
            select(claims)
            .where(claims.c.campaign_id == campaign_id, claims.c.state == ClaimState.FAILED.value)
            .order_by(claims.c.updated_at.desc())
            .limit(limit)
        )
        return [_claim(row) for row in self._conn.execute(query).mappings()]


def _as_time(value: Any) -> datetime:
    # SQLite hands back the minute as text; PostgreSQL as a timestamp.
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return as_utc(parsed) or parsed
