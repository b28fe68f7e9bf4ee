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

from sqlalchemy import Connection, insert, select

from app.adapters.db.dialect import is_postgres
from app.adapters.db.tables import trail_events
from app.clock import as_utc
from app.domain.trail import TrailEvent

# Below this many events a multi-row INSERT is as cheap as a COPY and simpler to run.
COPY_FROM_EVENTS = 50
SQLITE_ROWS_PER_STATEMENT = 500
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Details hold ids, codes, flags and amounts as text; str() is the safety net for anything else.
_encode = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False).encode
_COLUMNS = "campaign_id, customer_id, at, step, details"


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy_lines(events: Sequence[TrailEvent]) -> str:
    return "".join(
        f"{e.campaign_id}\t{_copy_text(e.customer_id)}\t{e.at.isoformat()}\t{_copy_text(e.step)}\t"
        f"{_copy_text(_encode(dict(e.details)))}\n"
        for e in events
    )


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
            self._conn.execute(insert(trail_events).values([_row(e) for e in events]))
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


class NoTrail:
    """A trail that records nothing (TRAIL_ENABLED=false): reads find no event."""

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
