"""The inbox in memory: events stored once, dispatched, processed once, as ``app.adapters.db.inbox``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.inbox import EventConflict, InboxEvent, NewInboxEvent, Stored, StoreResult
from tests.fakes.tables import Table, TableView, json_column, json_value

CONFLICT_OUTCOME = "conflict"


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One row of the inbox_events table."""

    id: int
    source: str
    dedupe_key: str
    event_type_id: int
    campaign_id: int
    fingerprint: str | None  # None on rows stored before fingerprints existed
    payload: str  # JSON text
    raw_body: str
    received_at: datetime
    dispatched_at: datetime | None = None
    dispatch_count: int = 0
    processed_at: datetime | None = None
    outcome: str | None = None
    conflict_of: int | None = None


def inbox_table() -> Table[int, InboxRow]:
    """An empty inbox: one row per dedupe key, and one unconflicted row per (EventTypeID, CampaignID)."""
    return Table(
        "inbox_events",
        unique=lambda row: [
            ("dedupe", row.dedupe_key),
            *([("primary", row.event_type_id, row.campaign_id)] if row.conflict_of is None else []),
        ],
    )


class FakeInbox:
    """The inbox repository in memory (see ``app.services.unit_of_work.InboxRepository``)."""

    def __init__(self, rows: TableView[int, InboxRow]) -> None:
        self._rows = rows

    def store(self, event: NewInboxEvent) -> StoreResult:
        """Store the event: the first of its kind, a duplicate, or a conflicting one."""
        row = InboxRow(
            id=self._rows.table.next_id(),
            source=event.source,
            dedupe_key=f"{event.event_type_id}:{event.campaign_id}:{event.fingerprint}",
            event_type_id=event.event_type_id,
            campaign_id=event.campaign_id,
            fingerprint=event.fingerprint,
            payload=json_column(event.payload),
            raw_body=event.raw_body,
            received_at=event.received_at,
        )
        if self._rows.insert(row.id, row):
            return StoreResult(Stored.NEW)
        same = self._rows.where(lambda r: r.dedupe_key == row.dedupe_key)
        first = next(
            (
                r
                for r in self._rows.rows()
                if r.event_type_id == event.event_type_id
                and r.campaign_id == event.campaign_id
                and r.conflict_of is None
            ),
            None,
        )
        # A row stored before fingerprints existed (no fingerprint) was keyed on the kind alone.
        if same or first is None or first.fingerprint is None:
            return StoreResult(Stored.DUPLICATE)
        conflict = replace(
            row,
            id=self._rows.table.next_id(),
            conflict_of=first.id,
            processed_at=event.received_at,
            outcome=CONFLICT_OUTCOME,
        )
        if not self._rows.insert(conflict.id, conflict):
            return StoreResult(Stored.DUPLICATE)
        return StoreResult(Stored.CONFLICT, first.id, json_value(first.payload))

    def get(self, event_id: int) -> InboxEvent | None:
        """One stored event."""
        row = self._rows.get(event_id)
        if row is None:
            return None
        return InboxEvent(
            id=row.id,
            event_type_id=row.event_type_id,
            campaign_id=row.campaign_id,
            payload=json_value(row.payload),
            processed=row.processed_at is not None,
        )

    def claim_for_dispatch(self, *, now: datetime, stale_before: datetime, limit: int) -> list[int]:
        """Unprocessed events never dispatched, or whose task looks lost; marked dispatched now."""
        due = self._rows.where(
            lambda r: (
                r.processed_at is None
                and (r.dispatched_at is None or r.dispatched_at < stale_before)
                and not self._rows.locked_elsewhere(r.id)
            )  # SKIP LOCKED
        )
        picked = sorted(due, key=lambda r: r.id)[: max(limit, 0)]
        for row in picked:
            self._rows.update(row.id, replace(row, dispatched_at=now, dispatch_count=row.dispatch_count + 1))
        return [row.id for row in picked]

    def mark_processed(self, event_id: int, *, now: datetime, outcome: str) -> bool:
        """Record the event as processed; False if another run already did."""
        row = self._rows.get(event_id)
        if row is None or row.processed_at is not None:
            return False
        self._rows.update(event_id, replace(row, processed_at=now, outcome=outcome))
        return True

    def conflicts_for(self, campaign_id: int, *, limit: int = 20) -> tuple[int, list[EventConflict]]:
        """How many conflicting events a campaign received, and the latest few."""
        conflicts = self._rows.where(lambda r: r.campaign_id == campaign_id and r.conflict_of is not None)
        latest = sorted(conflicts, key=lambda r: r.id, reverse=True)[: max(limit, 0)]
        return len(conflicts), [
            EventConflict(
                event_id=row.id,
                event_type_id=row.event_type_id,
                first_event_id=row.conflict_of,
                received_at=row.received_at,
                payload=json_value(row.payload),
            )
            for row in latest
            if row.conflict_of is not None
        ]
