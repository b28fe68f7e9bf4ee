"""Bulk writes of a campaign's audience: COPY on PostgreSQL, multi-row inserts on SQLite.

A page written twice changes nothing: rows go in with ON CONFLICT (campaign_id, customer_id)
DO NOTHING, and counts are read back for the rows the page owns.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, case, func, literal, select, true, update

from app.adapters.db.dialect import insert_ignoring_conflicts, is_postgres
from app.adapters.db.tables import campaign_audience, outbox
from app.domain.audience import Decision

PROMOTION_STATUS = "promotion_status"
SQLITE_ROWS_PER_STATEMENT = 500

_STAGE_DDL = """
CREATE TEMP TABLE audience_stage (
    campaign_id bigint, customer_id text, page_no integer, action_id integer, promo_code text,
    attributes text, segment text, eligible boolean, scrub_reason text
) ON COMMIT DROP
"""
_STAGE_COLUMNS = (
    "campaign_id, customer_id, page_no, action_id, promo_code, attributes, segment, eligible, scrub_reason"
)
_MERGE_STAGE = f"""
INSERT INTO campaign_audience ({_STAGE_COLUMNS})
SELECT campaign_id, customer_id, page_no, action_id, promo_code, attributes::json, segment, eligible,
       scrub_reason
FROM audience_stage
ON CONFLICT (campaign_id, customer_id) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class PageCounts:
    """What one page contributed to the audience."""

    rows: int
    eligible: int
    scrubbed: int


def write_page(conn: Connection, campaign_id: int, page_no: int, decisions: Sequence[Decision]) -> PageCounts:
    """Write a page of decided audience rows idempotently and count the rows this page owns."""
    if decisions:
        if is_postgres(conn):
            _copy_page(conn, campaign_id, page_no, decisions)
        else:
            _insert_page(conn, campaign_id, page_no, decisions)
    return page_counts(conn, campaign_id, page_no)


def page_counts(conn: Connection, campaign_id: int, page_no: int) -> PageCounts:
    """Rows, eligible and scrubbed counts of one page."""
    eligible_as_int = case((campaign_audience.c.eligible, 1), else_=0)
    rows, eligible = conn.execute(
        select(func.count(), func.coalesce(func.sum(eligible_as_int), 0)).where(
            campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.page_no == page_no
        )
    ).one()
    return PageCounts(rows=int(rows), eligible=int(eligible), scrubbed=int(rows) - int(eligible))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# json.dumps with non-default options builds a new encoder per call; one shared encoder is much cheaper.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _copy_text(value: str | None) -> str:
    """A text field in COPY's text format (NULL as \\N, control characters escaped)."""
    if value is None:
        return r"\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def _copy_page(conn: Connection, campaign_id: int, page_no: int, decisions: Sequence[Decision]) -> None:
    buffer = io.StringIO()
    write = buffer.write
    prefix = f"{campaign_id}\t"
    page = f"\t{page_no}\t"
    for d in decisions:
        c = d.candidate
        action = r"\N" if c.action_id is None else str(c.action_id)
        write(
            f"{prefix}{_copy_text(c.customer_id)}{page}{action}\t{_copy_text(c.promo_code)}\t"
            f"{_copy_text(_compact_json(dict(c.attributes)))}\t{_copy_text(d.segment)}\t"
            f"{'t' if d.eligible else 'f'}\t{_copy_text(d.scrub_reason)}\n"
        )
    buffer.seek(0)
    conn.exec_driver_sql(_STAGE_DDL)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY audience_stage ({_STAGE_COLUMNS}) FROM STDIN", buffer)
    finally:
        cursor.close()
    conn.exec_driver_sql(_MERGE_STAGE)


def _insert_page(conn: Connection, campaign_id: int, page_no: int, decisions: Sequence[Decision]) -> None:
    rows: list[dict[str, Any]] = [
        {
            "campaign_id": campaign_id,
            "customer_id": d.candidate.customer_id,
            "page_no": page_no,
            "action_id": d.candidate.action_id,
            "promo_code": d.candidate.promo_code,
            "attributes": dict(d.candidate.attributes),
            "segment": d.segment,
            "eligible": d.eligible,
            "scrub_reason": d.scrub_reason,
        }
        for d in decisions
    ]
    statement = insert_ignoring_conflicts(conn, campaign_audience, ["campaign_id", "customer_id"])
    for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
        conn.execute(statement.values(rows[start : start + SQLITE_ROWS_PER_STATEMENT]))


def enqueue_page_approvals(
    conn: Connection, campaign_id: int, page_no: int, *, deadline: datetime | None, now: datetime
) -> int:
    """Put an approval (Status true) in the outbox for every eligible customer of the page."""
    source = select(
        literal(PROMOTION_STATUS),
        campaign_audience.c.campaign_id,
        campaign_audience.c.customer_id,
        true(),
        literal(deadline, outbox.c.deadline.type),
        literal(now, outbox.c.created_at.type),
        literal(now, outbox.c.available_at.type),
        literal(0, Integer),
        literal(0, Integer),
    ).where(
        campaign_audience.c.campaign_id == campaign_id,
        campaign_audience.c.page_no == page_no,
        campaign_audience.c.eligible.is_(True),
    )
    columns = [
        "kind",
        "campaign_id",
        "customer_id",
        "status",
        "deadline",
        "created_at",
        "available_at",
        "attempts",
        "send_count",
    ]
    statement = insert_ignoring_conflicts(conn, outbox, ["kind", "campaign_id", "customer_id"])
    return int(conn.execute(statement.from_select(columns, source)).rowcount)


def scrub_breakdown(conn: Connection, campaign_id: int) -> dict[str, int]:
    """How many customers each scrub reason removed."""
    rows = conn.execute(
        select(campaign_audience.c.scrub_reason, func.count())
        .where(campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.eligible.is_(False))
        .group_by(campaign_audience.c.scrub_reason)
    )
    return {str(reason): int(count) for reason, count in rows}


def segment_breakdown(conn: Connection, campaign_id: int) -> dict[str, int]:
    """How many eligible customers fell in each segment."""
    rows = conn.execute(
        select(campaign_audience.c.segment, func.count())
        .where(campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.eligible.is_(True))
        .group_by(campaign_audience.c.segment)
    )
    return {str(segment): int(count) for segment, count in rows}


def audience_ids(conn: Connection, campaign_id: int, *, eligible: bool) -> set[str]:
    """Customer ids of the eligible (or the scrubbed) part of the audience."""
    return set(
        conn.execute(
            select(campaign_audience.c.customer_id).where(
                campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.eligible.is_(eligible)
            )
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class AudienceMember:
    """One customer's place in a campaign's audience."""

    eligible: bool
    scrub_reason: str | None
    promo_code: str | None
    segment: str | None


def member(conn: Connection, campaign_id: int, customer_id: str) -> AudienceMember | None:
    """The customer's audience row, or None when Optimove did not target them."""
    row = conn.execute(
        select(
            campaign_audience.c.eligible,
            campaign_audience.c.scrub_reason,
            campaign_audience.c.promo_code,
            campaign_audience.c.segment,
        ).where(
            campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.customer_id == customer_id
        )
    ).first()
    return None if row is None else AudienceMember(bool(row[0]), row[1], row[2], row[3])


def add_member_if_absent(
    conn: Connection,
    campaign_id: int,
    customer_id: str,
    *,
    page_no: int,
    promo_code: str | None,
    segment: str | None,
    eligible: bool,
    scrub_reason: str | None,
) -> bool:
    """Add one customer to a campaign's audience unless they are in it already; True when added."""
    statement = insert_ignoring_conflicts(conn, campaign_audience, ["campaign_id", "customer_id"]).values(
        campaign_id=campaign_id,
        customer_id=customer_id,
        page_no=page_no,
        promo_code=promo_code,
        attributes={},
        segment=segment,
        eligible=eligible,
        scrub_reason=scrub_reason,
    )
    return conn.execute(statement).rowcount == 1


def scrub_member(conn: Connection, campaign_id: int, customer_id: str, *, reason: str) -> bool:
    """Narrow the audience: an eligible customer becomes scrubbed. Never the other way round."""
    result = conn.execute(
        update(campaign_audience)
        .where(
            campaign_audience.c.campaign_id == campaign_id,
            campaign_audience.c.customer_id == customer_id,
            campaign_audience.c.eligible.is_(True),
        )
        .values(eligible=False, scrub_reason=reason)
    )
    return result.rowcount == 1
