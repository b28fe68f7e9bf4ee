"""Operator-provided customer data (consent withdrawals, fraud flags, VIP overrides) read by policies."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, exists, select

from app.adapters.db.dialect import is_postgres
from app.adapters.db.tables import customer_flags
from app.domain.audience import OperatorFlags, attribute_flag

SQLITE_IDS_PER_QUERY = 900


def has_flags(conn: Connection) -> bool:
    """Whether the operator loaded any data (most pages can then skip the lookup)."""
    return bool(conn.execute(select(exists().select_from(customer_flags))).scalar())


def flags_for(conn: Connection, customer_ids: Sequence[str]) -> dict[str, OperatorFlags]:
    """The operator flags of those customers that have any."""
    found: dict[str, OperatorFlags] = {}
    chunk = len(customer_ids) if is_postgres(conn) else SQLITE_IDS_PER_QUERY
    for start in range(0, len(customer_ids), max(chunk, 1)):
        ids = list(customer_ids[start : start + chunk])
        rows = conn.execute(select(customer_flags).where(customer_flags.c.customer_id.in_(ids))).mappings()
        for row in rows:
            found[row["customer_id"]] = OperatorFlags(
                consent=row["consent"], fraud=row["fraud"], vip_level=row["vip_level"]
            )
    return found


def upsert_flags(conn: Connection, rows: Iterable[tuple[str, OperatorFlags]], *, now: datetime) -> int:
    """Insert or replace operator flags; returns how many customers were written."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    count = 0
    for customer_id, flags in rows:
        values = {
            "consent": flags.consent,
            "fraud": flags.fraud,
            "vip_level": flags.vip_level,
            "updated_at": now,
        }
        statement = dialect_insert(customer_flags).values(customer_id=customer_id, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["customer_id"], set_=values))
        count += 1
    return count


def read_flags_csv(path: Path) -> list[tuple[str, OperatorFlags]]:
    """Read ``customer_id,consent,fraud,vip_level`` rows (blank cells mean "no opinion").

    Raises ValueError naming the line when a row is malformed.
    """
    rows: list[tuple[str, OperatorFlags]] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "customer_id" not in reader.fieldnames:
            raise ValueError(f"{path}: the header must include customer_id (and consent, fraud, vip_level)")
        for line, record in enumerate(reader, start=2):
            customer_id = (record.get("customer_id") or "").strip()
            if not customer_id:
                raise ValueError(f"{path}:{line}: empty customer_id")
            vip = (record.get("vip_level") or "").strip()
            if vip and not vip.lstrip("-").isdigit():
                raise ValueError(f"{path}:{line}: vip_level {vip!r} is not a whole number")
            rows.append(
                (
                    customer_id,
                    OperatorFlags(
                        consent=attribute_flag(record.get("consent") or None),
                        fraud=attribute_flag(record.get("fraud") or None),
                        vip_level=int(vip) if vip else None,
                    ),
                )
            )
    return rows
