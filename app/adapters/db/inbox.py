"""Inbox of Optimove webhook events: stored once, dispatched, re-dispatched if lost, processed once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from app.adapters.db.dialect import (
    insert_ignoring_any_conflict,
    insert_ignoring_conflicts,
    lock_rows_skip_locked,
)
from app.adapters.db.tables import inbox_events
from app.clock import as_utc
from app.domain.inbox import EventConflict, InboxEvent, NewInboxEvent, Stored, StoreResult

CONFLICT_OUTCOME = "conflict"


class SqlInbox:
    """The inbox repository on one connection (see ``app.services.unit_of_work.InboxRepository``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def store(self, event: NewInboxEvent) -> StoreResult:
        """Store the event once: the first of its kind, a duplicate of one stored, or a conflicting one.

        Two unique keys decide, so that concurrent deliveries cannot both win: the dedupe key
        (kind + fingerprint: a redelivery) and one unconflicted row per (EventTypeID, CampaignID).
        """
        values: dict[str, Any] = {
            "source": event.source,
            "dedupe_key": f"{event.event_type_id}:{event.campaign_id}:{event.fingerprint}",
            "event_type_id": event.event_type_id,
            "campaign_id": event.campaign_id,
            "fingerprint": event.fingerprint,
            "payload": event.payload,
            "raw_body": event.raw_body,
            "received_at": event.received_at,
        }
        conn = self._conn
        if conn.execute(insert_ignoring_any_conflict(conn, inbox_events).values(**values)).rowcount == 1:
            return StoreResult(Stored.NEW)
        same = conn.execute(
            select(inbox_events.c.id).where(inbox_events.c.dedupe_key == values["dedupe_key"])
        ).first()
        first = (
            conn.execute(
                select(inbox_events.c.id, inbox_events.c.fingerprint, inbox_events.c.payload).where(
                    inbox_events.c.event_type_id == event.event_type_id,
                    inbox_events.c.campaign_id == event.campaign_id,
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
            **values, conflict_of=first["id"], processed_at=event.received_at, outcome=CONFLICT_OUTCOME
        )
        if conn.execute(conflict).rowcount == 0:  # the same conflicting event, delivered concurrently
            return StoreResult(Stored.DUPLICATE)
        return StoreResult(Stored.CONFLICT, first["id"], dict(first["payload"]))

    def get(self, event_id: int) -> InboxEvent | None:
        """One stored event."""
        row = self._conn.execute(select(inbox_events).where(inbox_events.c.id == event_id)).mappings().first()
        if row is None:
            return None
        return InboxEvent(
            id=row["id"],
            event_type_id=row["event_type_id"],
            campaign_id=row["campaign_id"],
            payload=dict(row["payload"]),
            processed=row["processed_at"] is not None,
        )

    def claim_for_dispatch(self, *, now: datetime, stale_before: datetime, limit: int) -> list[int]:
        """Unprocessed events never dispatched, or whose task looks lost; marked dispatched now."""
        query = lock_rows_skip_locked(
            self._conn,
            select(inbox_events.c.id)
            .where(
                inbox_events.c.processed_at.is_(None),
                or_(inbox_events.c.dispatched_at.is_(None), inbox_events.c.dispatched_at < stale_before),
            )
            .order_by(inbox_events.c.id)
            .limit(limit),
        )
        ids = list(self._conn.execute(query).scalars())
        if ids:
            self._conn.execute(
                update(inbox_events)
                .where(inbox_events.c.id.in_(ids))
                .values(dispatched_at=now, dispatch_count=inbox_events.c.dispatch_count + 1)
            )
        return ids

    def mark_processed(self, event_id: int, *, now: datetime, outcome: str) -> bool:
        """Record the event as processed; False if another run already did."""
        result = self._conn.execute(
            update(inbox_events)
            .where(and_(inbox_events.c.id == event_id, inbox_events.c.processed_at.is_(None)))
            .values(processed_at=now, outcome=outcome)
        )
        return result.rowcount == 1

    def conflicts_for(self, campaign_id: int, *, limit: int = 20) -> tuple[int, list[EventConflict]]:
        """How many conflicting events a campaign received, and the latest few."""
        where = and_(inbox_events.c.campaign_id == campaign_id, inbox_events.c.conflict_of.is_not(None))
        total = int(self._conn.execute(select(func.count()).where(where)).scalar_one())
        rows = self._conn.execute(
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

    def count(self) -> int:
        """How many events the inbox holds (for reports and tests)."""
        return int(self._conn.execute(select(func.count()).select_from(inbox_events)).scalar_one())
