"""Operator-provided customer data (consent withdrawals, fraud flags, VIP overrides) read by policies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, exists, select

from app.adapters.db.dialect import ids_per_query, upsert
from app.adapters.db.tables import customer_flags
from app.domain.audience import OperatorFlags


class SqlOperatorData:
    """The operator-data repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def has_any(self) -> bool:
        """Whether the operator loaded any data (most pages can then skip the lookup)."""
        return bool(self._conn.execute(select(exists().select_from(customer_flags))).scalar())

    def flags_for(self, customer_ids: Sequence[str]) -> dict[str, OperatorFlags]:
        """The flags of those customers that have any."""
        found: dict[str, OperatorFlags] = {}
        chunk = ids_per_query(self._conn, len(customer_ids))
        for start in range(0, len(customer_ids), chunk):
            ids = list(customer_ids[start : start + chunk])
            query = select(customer_flags).where(customer_flags.c.customer_id.in_(ids))
            for row in self._conn.execute(query).mappings():
                found[row["customer_id"]] = OperatorFlags(
                    consent=row["consent"], fraud=row["fraud"], vip_level=row["vip_level"]
                )
        return found

    def save(self, rows: Iterable[tuple[str, OperatorFlags]], *, now: datetime) -> int:
        """Insert or replace customers' flags; how many customers were written."""
        count = 0
        for customer_id, flags in rows:
            values = {
                "consent": flags.consent,
                "fraud": flags.fraud,
                "vip_level": flags.vip_level,
                "updated_at": now,
            }
            self._conn.execute(
                upsert(
                    self._conn,
                    customer_flags,
                    ["customer_id"],
                    {"customer_id": customer_id, **values},
                    values,
                )
            )
            count += 1
        return count
