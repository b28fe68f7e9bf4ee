"""The customers' trail on one connection: appended in one statement, read by customer.

A batch of events is one statement whatever its size: a multi-row INSERT for a few events, a COPY
straight into the table for a page or a status call (no conflicts to skip: the trail only appends).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, literal, select

from app.adapters.db.dialect import copy_field, is_postgres
from app.adapters.db.tables import campaign_audience, outbox, status_calls, trail_events
from app.clock import as_utc
from app.domain.outbox import PAGE_APPROVALS, PROMOTION_STATUS, ClaimedBatch
from app.domain.trail import MAX_DETAIL_TEXT_CHARS, StatusCall, StatusRecord, TrailEvent

# Below this many events a multi-row INSERT is as cheap as a COPY and simpler to run.
COPY_FROM_EVENTS = 50
SQLITE_ROWS_PER_STATEMENT = 500
# Details hold ids, codes, flags and amounts as text; str() is the safety net for anything else.
_encode = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False).encode
_COLUMNS = "campaign_id, customer_id, at, step, details"


def _copy_lines(events: Sequence[TrailEvent]) -> str:
    # A batch shares a few timestamps (one per unit of work), and a page's scrub events share a few
    # details objects (one per policy verdict): each is formatted once.
    stamps: dict[datetime, str] = {}
    encoded: dict[int, str] = {}
    lines = []
    for e in events:
        at = stamps.get(e.at)
        if at is None:
            at = stamps[e.at] = e.at.isoformat()
        details = encoded.get(id(e.details))
        if details is None:
            details = encoded[id(e.details)] = copy_field(_encode(dict(e.details)))
        lines.append(f"{e.campaign_id}\t{copy_field(e.customer_id)}\t{at}\t{e.step}\t{details}\n")
    return "".join(lines)


def _row(event: TrailEvent) -> dict[str, Any]:
    return {
        "campaign_id": event.campaign_id,
        "customer_id": event.customer_id,
        "at": event.at,
        "step": event.step,
        # Round-tripped through the encoder so that what is stored is what COPY would store.
        "details": json.loads(_encode(dict(event.details))),
    }


def _utc(value: datetime) -> datetime:
    utc = as_utc(value)
    assert utc is not None
    return utc


class SqlTrail:
    """The trail repository on one connection (see ``app.services.unit_of_work.TrailRepository``)."""

    recording = True  # what is appended is kept

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, events: Sequence[TrailEvent]) -> None:
        """Append the events in one statement (a COPY for a big batch on PostgreSQL)."""
        if not events:
            return
        if is_postgres(self._conn):
            if len(events) >= COPY_FROM_EVENTS:
                if not self._conn.in_transaction():
                    # COPY goes through the driver's cursor: make sure the unit of work's commit covers it.
                    self._conn.begin()
                cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.copy_expert(
                        f"COPY trail_events ({_COLUMNS}) FROM STDIN", io.StringIO(_copy_lines(events))
                    )
                finally:
                    cursor.close()
                return
            # Straight to the driver: this runs in the claims POST, where SQLAlchemy's statement
            # building would cost more CPU than the insert itself (measured: ~360 µs against ~90 µs).
            values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(events))
            params = tuple(
                v
                for e in events
                for v in (e.campaign_id, e.customer_id, e.at, e.step, _encode(dict(e.details)))
            )
            self._conn.exec_driver_sql(f"INSERT INTO trail_events ({_COLUMNS}) VALUES {values}", params)
            return
        rows = [_row(e) for e in events]
        for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
            self._conn.execute(insert(trail_events).values(rows[start : start + SQLITE_ROWS_PER_STATEMENT]))

    def for_customer(
        self, customer_id: str, campaign_id: int | None = None, *, limit: int
    ) -> list[TrailEvent]:
        """The customer's first `limit` events (of one campaign, when given), in the order written."""
        t = trail_events.c
        query = select(t.campaign_id, t.customer_id, t.at, t.step, t.details)
        query = query.where(t.customer_id == customer_id)
        if campaign_id is not None:
            query = query.where(t.campaign_id == campaign_id)
        query = query.order_by(t.id).limit(max(limit, 0))
        return [
            TrailEvent(
                int(row.campaign_id),
                row.customer_id,
                _utc(row.at),
                row.step,
                row.details if isinstance(row.details, dict) else {},
            )
            for row in self._conn.execute(query)
        ]

    def first_recorded_at(self) -> datetime | None:
        """When the first event of all was recorded (the primary key's first row: no scan)."""
        at = self._conn.execute(select(trail_events.c.at).order_by(trail_events.c.id).limit(1)).scalar()
        return None if at is None else _utc(at)

    def record_status_call(
        self, batch: ClaimedBatch, *, outcome: str, error: str | None, now: datetime
    ) -> int | None:
        """Record one status call for the batch; its id."""
        return int(
            self._conn.execute(
                insert(status_calls)
                .values(
                    campaign_id=batch.campaign_id,
                    at=now,
                    kind=batch.kind,
                    size=len(batch.customers),
                    attempt=batch.attempt,
                    outcome=outcome,
                    error=None if error is None else error[:MAX_DETAIL_TEXT_CHARS],
                )
                .returning(status_calls.c.id)
            ).scalar_one()
        )

    def status_of(self, campaign_id: int, customer_id: str) -> StatusRecord | None:
        """The customer's outbox row (found by its unique key) and the call it points at."""
        o, c = outbox.c, status_calls.c
        row = self._conn.execute(
            select(
                o.created_at, o.sent_at, o.dead_at, o.send_count, o.attempts, o.last_error,
                c.id, c.at, c.size, c.attempt, c.outcome,
            )
            .select_from(outbox.outerjoin(status_calls, and_(c.id == o.last_call_id)))
            .where(o.kind == PROMOTION_STATUS, o.campaign_id == campaign_id, o.customer_id == customer_id)
        ).first()  # fmt: skip
        if row is None:
            return self._status_by_page(campaign_id, customer_id)
        call = (
            None
            if row.id is None
            else StatusCall(int(row.id), _utc(row.at), row.size, row.attempt, row.outcome)
        )
        return StatusRecord(
            _utc(row.created_at), as_utc(row.sent_at), as_utc(row.dead_at), int(row.send_count),
            int(row.attempts), row.last_error, call,
        )  # fmt: skip

    def _status_by_page(self, campaign_id: int, customer_id: str) -> StatusRecord | None:
        """An auto campaign's customer approved with their page (one outbox row per page): sent once
        the page's cursor passed them; the call shown is the last that carried part of the page."""
        o, c, a = outbox.c, status_calls.c, campaign_audience.c
        row = self._conn.execute(
            select(
                o.created_at, o.sent_at, o.dead_at, o.attempts, o.last_error, o.sent_through,
                c.id, c.at, c.size, c.attempt, c.outcome,
            )
            .select_from(
                campaign_audience.join(
                    outbox,
                    and_(o.kind == PAGE_APPROVALS, o.campaign_id == a.campaign_id, o.page_no == a.page_no),
                ).outerjoin(status_calls, c.id == o.last_call_id)
            )
            .where(a.campaign_id == campaign_id, a.customer_id == customer_id, a.eligible.is_(True))
        ).first()  # fmt: skip
        if row is None:
            return None
        sent = (
            row.sent_through is not None
            and self._conn.execute(select(literal(customer_id) <= literal(row.sent_through))).scalar_one()
        )  # compared by the database, in the collation the cursor moved in
        call = (
            None
            if row.id is None or not sent
            else StatusCall(int(row.id), _utc(row.at), row.size, row.attempt, row.outcome)
        )
        sent_at = (as_utc(row.sent_at) or (call.at if call else _utc(row.created_at))) if sent else None
        return StatusRecord(
            _utc(row.created_at), sent_at, None if sent else as_utc(row.dead_at), int(bool(sent)),
            int(row.attempts), row.last_error, call,
        )  # fmt: skip


class NoTrail:
    """A trail that records nothing (TRAIL_ENABLED=false): reads find no event."""

    recording = False

    def append(self, events: Sequence[TrailEvent]) -> None:
        """Record nothing."""

    def for_customer(
        self, customer_id: str, campaign_id: int | None = None, *, limit: int
    ) -> list[TrailEvent]:
        """No event."""
        return []

    def first_recorded_at(self) -> datetime | None:
        """Nothing was recorded."""
        return None

    def record_status_call(
        self, batch: ClaimedBatch, *, outcome: str, error: str | None, now: datetime
    ) -> int | None:
        """Record nothing."""
        return None

    def status_of(self, campaign_id: int, customer_id: str) -> StatusRecord | None:
        """Nothing is known (the outbox is not the trail's to read when the trail is off)."""
        return None
