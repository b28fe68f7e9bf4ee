"""Inbox of Optimove webhook events: stored once, dispatched, re-dispatched if lost, processed once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from app.adapters.db.dialect import (
    insert_ignoring_any_conflict,
    insert_ignoring_conflicts,
    lock_rows_skip_locked,
)
from app.adapters.db.tables import inbox_events
from app.clock import as_utc

CONFLICT_OUTCOME = "conflict"


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """A stored webhook event."""

    id: int
    event_type_id: int
    campaign_id: int
    payload: dict[str, Any]
    processed: bool


class Stored(StrEnum):
    """What storing an event did."""

    NEW = "new"  # the first event of its (EventTypeID, CampaignID): it will be acted on
    DUPLICATE = "duplicate"  # a redelivery of an event already stored: nothing stored
    CONFLICT = "conflict"  # differs from the first event of its kind: stored apart, never acted on


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The outcome, and the first event of the same kind when this one conflicts with it."""

    stored: Stored
    first_event_id: int | None = None
    first_payload: dict[str, Any] | None = None


def store_event(
    conn: Connection,
    *,
    source: str,
    event_type_id: int,
    campaign_id: int,
    fingerprint: str,
    payload: dict[str, Any],
    raw_body: str,
    received_at: datetime,
) -> StoreResult:
    """Store the event once: the first of its kind, a duplicate of one stored, or a conflicting one.

    Two unique keys decide, so that concurrent deliveries cannot both win: the dedupe key
    (kind + fingerprint: a redelivery) and one unconflicted row per (EventTypeID, CampaignID).
    """
    values = {
        "source": source,
        "dedupe_key": f"{event_type_id}:{campaign_id}:{fingerprint}",
        "event_type_id": event_type_id,
        "campaign_id": campaign_id,
        "fingerprint": fingerprint,
        "payload": payload,
        "raw_body": raw_body,
        "received_at": received_at,
    }
    if conn.execute(insert_ignoring_any_conflict(conn, inbox_events).values(**values)).rowcount == 1:
        return StoreResult(Stored.NEW)
    same = conn.execute(
        select(inbox_events.c.id).where(inbox_events.c.dedupe_key == values["dedupe_key"])
    ).first()
    first = (
        conn.execute(
            select(inbox_events.c.id, inbox_events.c.fingerprint, inbox_events.c.payload).where(
                inbox_events.c.event_type_id == event_type_id,
                inbox_events.c.campaign_id == campaign_id,
                inbox_events.c.conflict_of.is_(None),
            )
        )
        .mappings()
        .first()
    )
    # A row stored before fingerprints existed (no fingerprint) was keyed on the kind alone.
    if same is not None or first is None or first["fingerprint"] is None:
        return StoreResult(Stored.DUPLICATE)
    conflict = insert_ignoring_conflicts(conn, inbox_events, ["dedupe_key"]).values(
        **values, conflict_of=first["id"], processed_at=received_at, outcome=CONFLICT_OUTCOME
    )
    if conn.execute(conflict).rowcount == 0:  # the same conflicting event, delivered concurrently
        return StoreResult(Stored.DUPLICATE)
    return StoreResult(Stored.CONFLICT, first["id"], dict(first["payload"]))


@dataclass(frozen=True, slots=True)
class EventConflict:
    """An event that differed from the first one of its kind and was not acted on."""

    event_id: int
    event_type_id: int
    first_event_id: int
    received_at: datetime
    payload: dict[str, Any]


def conflicts_for(conn: Connection, campaign_id: int, *, limit: int = 20) -> tuple[int, list[EventConflict]]:
    """How many conflicting events a campaign received, and the latest few."""
    where = and_(inbox_events.c.campaign_id == campaign_id, inbox_events.c.conflict_of.is_not(None))
    total = int(conn.execute(select(func.count()).where(where)).scalar_one())
    rows = conn.execute(
        select(inbox_events).where(where).order_by(inbox_events.c.id.desc()).limit(limit)
    ).mappings()
    return total, [
        EventConflict(
            event_id=row["id"],
            event_type_id=row["event_type_id"],
            first_event_id=row["conflict_of"],
            received_at=as_utc(row["received_at"]) or row["received_at"],
            payload=dict(row["payload"]),
        )
        for row in rows
    ]


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
