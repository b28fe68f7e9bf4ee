"""The operator's customer flags in memory, as ``app.adapters.db.operator_data``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.domain.audience import OperatorFlags
from tests.fakes.tables import Table, TableView


@dataclass(frozen=True, slots=True)
class FlagsRow:
    """One row of the customer_flags table."""

    customer_id: str
    flags: OperatorFlags
    updated_at: datetime


def customer_flags_table() -> Table[str, FlagsRow]:
    """An empty customer_flags table, keyed by customer."""
    return Table("customer_flags")


class FakeOperatorData:
    """The operator-data repository in memory (see ``app.services.unit_of_work.OperatorDataRepository``)."""

    def __init__(self, rows: TableView[str, FlagsRow]) -> None:
        self._rows = rows

    def has_any(self) -> bool:
        """Whether the operator loaded any data (most pages can then skip the lookup)."""
        return bool(self._rows.rows())

    def flags_for(self, customer_ids: Sequence[str]) -> dict[str, OperatorFlags]:
        """The flags of those customers that have any."""
        found = {}
        for customer_id in customer_ids:
            row = self._rows.get(customer_id)
            if row is not None:
                found[customer_id] = row.flags
        return found

    def save(self, rows: Iterable[tuple[str, OperatorFlags]], *, now: datetime) -> int:
        """Insert or replace customers' flags; how many rows were written (a repeat counts twice)."""
        count = 0
        for customer_id, flags in rows:
            row = FlagsRow(customer_id, flags, now)
            if not self._rows.insert(customer_id, row):
                self._rows.update(customer_id, row)
            count += 1
        return count
