"""Inbox of Optimove webhook events: stored once, dispatched, re-dispatched if lost, processed once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from app.adapters.db.dialect import insert_ignoring_conflicts, lock_rows_skip_locked
from app.adapters.db.tables import inbox_events


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """A stored webhook event."""

    id: int
    event_type_id: int
    campaign_id: int
    payload: dict[str, Any]
    processed: bool


def store_event(
    conn: Connection,
    *,
    source: str,
    dedupe_key: str,
    event_type_id: int,
    campaign_id: int,
    payload: dict[str, Any],
    raw_body: str,
    received_at: datetime,
) -> bool:
    """Insert the event unless its dedupe key is already there; True when it is new."""
    statement = insert_ignoring_conflicts(conn, inbox_events, ["dedupe_key"]).values(
        source=source,
        dedupe_key=dedupe_key,
        event_type_id=event_type_id,
        campaign_id=campaign_id,
        payload=payload,
        raw_body=raw_body,
        received_at=received_at,
    )
    return conn.execute(statement).rowcount == 1


def claim_for_dispatch(conn: Connection, *, now: datetime, stale_before: datetime, limit: int) -> list[int]:
    """Mark unprocessed events that were never dispatched, or whose task looks lost, as dispatched now."""
    query = lock_rows_skip_locked(
        conn,
        select(inbox_events.c.id)
        .where(
            inbox_events.c.processed_at.is_(None),
            or_(inbox_events.c.dispatched_at.is_(None), inbox_events.c.dispatched_at < stale_before),
        )
        .order_by(inbox_events.c.id)
        .limit(limit),
    )
    ids = list(conn.execute(query).scalars())
    if ids:
        conn.execute(
            update(inbox_events)
            .where(inbox_events.c.id.in_(ids))
            .values(dispatched_at=now, dispatch_count=inbox_events.c.dispatch_count + 1)
        )
    return ids


def load_event(conn: Connection, event_id: int) -> InboxEvent | None:
    """Read one event, or None."""
    row = conn.execute(select(inbox_events).where(inbox_events.c.id == event_id)).mappings().first()
    if row is None:
        return None
    return InboxEvent(
        id=row["id"],
        event_type_id=row["event_type_id"],
        campaign_id=row["campaign_id"],
        payload=dict(row["payload"]),
        processed=row["processed_at"] is not None,
    )


def mark_processed(conn: Connection, event_id: int, *, now: datetime, outcome: str) -> bool:
    """Record the event as processed; False if another run already did (so this one must roll back)."""
    result = conn.execute(
        update(inbox_events)
        .where(and_(inbox_events.c.id == event_id, inbox_events.c.processed_at.is_(None)))
        .values(processed_at=now, outcome=outcome)
    )
    return result.rowcount == 1


def count_events(conn: Connection) -> int:
    """How many events the inbox holds (for tests and reports)."""
    return int(conn.execute(select(func.count()).select_from(inbox_events)).scalar_one())
