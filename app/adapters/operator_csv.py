"""The operator's customer data as a CSV file: customer_id,consent,fraud,vip_level (blank: no opinion)."""

from __future__ import annotations

import csv
from pathlib import Path

from app.domain.audience import OperatorFlags, attribute_flag


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
