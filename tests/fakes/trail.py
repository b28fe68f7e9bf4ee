"""The customers' trail in memory, as ``app.adapters.db.trail``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.trail import TrailEvent
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


def trail_table() -> Table[int, TrailRow]:
    """An empty trail_events table."""
    return Table("trail_events")


class FakeTrail:
    """The trail in memory (see ``app.services.unit_of_work.TrailRepository``)."""

    def __init__(self, rows: TableView[int, TrailRow]) -> None:
        self._rows = rows
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


def _stored(details: Mapping[str, Any]) -> str:
    """Details as the SQL trail stores them: anything JSON cannot hold becomes its text."""
    return json.dumps(dict(details), default=str)
