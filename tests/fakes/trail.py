"""The customers' trail in memory, as ``app.adapters.db.trail``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.outbox import PAGE_APPROVALS, PROMOTION_STATUS, ClaimedBatch, page_approvals_key
from app.domain.trail import MAX_DETAIL_TEXT_CHARS, StatusCall, StatusRecord, TrailEvent
from tests.fakes.audience import AudienceRow
from tests.fakes.outbox import OutboxKey, OutboxRow
from tests.fakes.tables import Table, TableView, json_value


@dataclass(frozen=True, slots=True)
class TrailRow:
    """One row of the trail_events table (its details stored as JSON text, as a JSON column keeps them)."""

    id: int
    campaign_id: int
    customer_id: str
    at: datetime
    step: str
    details: str


@dataclass(frozen=True, slots=True)
class StatusCallRow:
    """One row of the status_calls table."""

    id: int
    campaign_id: int
    at: datetime
    kind: str
    size: int
    attempt: int
    outcome: str
    error: str | None


def trail_table() -> Table[int, TrailRow]:
    """An empty trail_events table."""
    return Table("trail_events")


def status_calls_table() -> Table[int, StatusCallRow]:
    """An empty status_calls table."""
    return Table("status_calls")


class FakeTrail:
    """The trail in memory (see ``app.services.unit_of_work.TrailRepository``)."""

    recording = True

    def __init__(
        self,
        rows: TableView[int, TrailRow],
        calls: TableView[int, StatusCallRow],
        outbox: TableView[OutboxKey, OutboxRow],
        audience: TableView[tuple[int, str], AudienceRow] | None = None,
    ) -> None:
        self._rows = rows
        self._calls = calls
        self._outbox = outbox
        self._audience = audience
        self.appends = 0  # statements a SQL trail would have run (a test may count them)

    def append(self, events: Sequence[TrailEvent]) -> None:
        """Append the events (one statement's worth)."""
        if not events:
            return
        self.appends += 1
        for e in events:
            row = TrailRow(
                self._rows.table.next_id(), e.campaign_id, e.customer_id, e.at, e.step,
                _stored(e.details),
            )  # fmt: skip
            self._rows.insert(row.id, row)

    def for_customer(
        self, customer_id: str, campaign_id: int | None = None, *, limit: int
    ) -> list[TrailEvent]:
        """The customer's first `limit` events (of one campaign, when given), in the order written."""
        mine = self._rows.where(lambda r: r.customer_id == customer_id)
        if campaign_id is not None:
            mine = [r for r in mine if r.campaign_id == campaign_id]
        rows = sorted(mine, key=lambda r: r.id)[: max(limit, 0)]
        return [TrailEvent(r.campaign_id, r.customer_id, r.at, r.step, json_value(r.details)) for r in rows]

    def first_recorded_at(self) -> datetime | None:
        """When the first event of all was recorded."""
        rows = self._rows.rows()
        return min(rows, key=lambda r: r.id).at if rows else None

    def record_status_call(
        self, batch: ClaimedBatch, *, outcome: str, error: str | None, now: datetime
    ) -> int | None:
        """Record one status call for the batch; its id."""
        row = StatusCallRow(
            self._calls.table.next_id(), batch.campaign_id, now, batch.kind, len(batch.customers),
            batch.attempt, outcome, None if error is None else error[:MAX_DETAIL_TEXT_CHARS],
        )  # fmt: skip
        self._calls.insert(row.id, row)
        return row.id

    def status_of(self, campaign_id: int, customer_id: str) -> StatusRecord | None:
        """The customer's outbox row and the call it points at."""
        row = self._outbox.get((PROMOTION_STATUS, campaign_id, customer_id))
        if row is None:
            return self._status_by_page(campaign_id, customer_id)
        call_row = None if row.last_call_id is None else self._calls.get(row.last_call_id)
        call = (
            None
            if call_row is None
            else StatusCall(call_row.id, call_row.at, call_row.size, call_row.attempt, call_row.outcome)
        )
        return StatusRecord(
            row.created_at, row.sent_at, row.dead_at, row.send_count, row.attempts, row.last_error, call
        )

    def _status_by_page(self, campaign_id: int, customer_id: str) -> StatusRecord | None:
        member = None if self._audience is None else self._audience.get((campaign_id, customer_id))
        if member is None or not member.eligible:
            return None
        page = self._outbox.get((PAGE_APPROVALS, campaign_id, page_approvals_key(member.page_no)))
        if page is None:
            return None
        sent = page.sent_through is not None and customer_id <= page.sent_through
        call_row = None if page.last_call_id is None or not sent else self._calls.get(page.last_call_id)
        call = (
            None
            if call_row is None
            else StatusCall(call_row.id, call_row.at, call_row.size, call_row.attempt, call_row.outcome)
        )
        sent_at = (page.sent_at or (call.at if call else page.created_at)) if sent else None
        return StatusRecord(
            page.created_at, sent_at, None if sent else page.dead_at, int(sent), page.attempts,
            page.last_error, call,
        )  # fmt: skip


def _stored(details: Mapping[str, Any]) -> str:
    """Details as the SQL trail stores them: anything JSON cannot hold becomes its text."""
    return json.dumps(dict(details), default=str)
