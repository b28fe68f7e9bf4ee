"""A campaign's audience: bulk writes (COPY on PostgreSQL) and the verdicts on each customer.

A page written twice changes nothing: rows go in with ON CONFLICT (campaign_id, customer_id)
DO NOTHING, and counts are read back for the rows the page owns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from app.adapters.db.dialect import bulk_insert_ignoring_conflicts, insert_ignoring_conflicts
from app.adapters.db.tables import campaign_audience
from app.domain.audience import AudienceMember, Decision, PageCounts

_COLUMNS = (
    "campaign_id",
    "customer_id",
    "page_no",
    "action_id",
    "promo_code",
    "attributes",
    "segment",
    "eligible",
    "scrub_reason",
)
_CONFLICT = ("campaign_id", "customer_id")


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


def _copy_lines(campaign_id: int, page_no: int, decisions: Sequence[Decision]) -> str:
    prefix = f"{campaign_id}\t"
    page = f"\t{page_no}\t"
    lines = []
    for d in decisions:
        c = d.candidate
        action = r"\N" if c.action_id is None else str(c.action_id)
        lines.append(
            f"{prefix}{_copy_text(c.customer_id)}{page}{action}\t{_copy_text(c.promo_code)}\t"
            f"{_copy_text(_compact_json(dict(c.attributes)))}\t{_copy_text(d.segment)}\t"
            f"{'t' if d.eligible else 'f'}\t{_copy_text(d.scrub_reason)}\n"
        )
    return "".join(lines)


def _row_dicts(campaign_id: int, page_no: int, decisions: Sequence[Decision]) -> list[dict[str, Any]]:
    return [
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


class SqlAudience:
    """The audience repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def write_page(self, campaign_id: int, page_no: int, decisions: Sequence[Decision]) -> PageCounts:
        """Write a page of decided rows (a row already there is kept) and count the rows the page owns."""
        if decisions:
            bulk_insert_ignoring_conflicts(
                self._conn,
                campaign_audience,
                _CONFLICT,
                _COLUMNS,
                copy_text=lambda: _copy_lines(campaign_id, page_no, decisions),
                rows=lambda: _row_dicts(campaign_id, page_no, decisions),
            )
        eligible_as_int = case((campaign_audience.c.eligible, 1), else_=0)
        rows, eligible = self._conn.execute(
            select(func.count(), func.coalesce(func.sum(eligible_as_int), 0)).where(
                campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.page_no == page_no
            )
        ).one()
        return PageCounts(rows=int(rows), eligible=int(eligible), scrubbed=int(rows) - int(eligible))

    def member(self, campaign_id: int, customer_id: str) -> AudienceMember | None:
        """The customer's audience row, or None when they are not targeted."""
        row = self._conn.execute(
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
        self,
        campaign_id: int,
        customer_id: str,
        *,
        page_no: int,
        promo_code: str | None,
        segment: str | None,
        eligible: bool,
        scrub_reason: str | None,
    ) -> bool:
        """Add one customer unless they are in the audience already; True when added."""
        statement = insert_ignoring_conflicts(self._conn, campaign_audience, list(_CONFLICT)).values(
            campaign_id=campaign_id,
            customer_id=customer_id,
            page_no=page_no,
            promo_code=promo_code,
            attributes={},
            segment=segment,
            eligible=eligible,
            scrub_reason=scrub_reason,
        )
        return self._conn.execute(statement).rowcount == 1

    def scrub_member(self, campaign_id: int, customer_id: str, *, reason: str) -> bool:
        """Narrow the audience: an eligible customer becomes scrubbed (never the other way round)."""
        result = self._conn.execute(
            update(campaign_audience)
            .where(
                campaign_audience.c.campaign_id == campaign_id,
                campaign_audience.c.customer_id == customer_id,
                campaign_audience.c.eligible.is_(True),
            )
            .values(eligible=False, scrub_reason=reason)
        )
        return result.rowcount == 1

    def scrub_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many customers each scrub reason removed."""
        rows = self._conn.execute(
            select(campaign_audience.c.scrub_reason, func.count())
            .where(campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.eligible.is_(False))
            .group_by(campaign_audience.c.scrub_reason)
        )
        return {str(reason): int(count) for reason, count in rows}

    def segment_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many eligible customers fell in each segment."""
        rows = self._conn.execute(
            select(campaign_audience.c.segment, func.count())
            .where(campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.eligible.is_(True))
            .group_by(campaign_audience.c.segment)
        )
        return {str(segment): int(count) for segment, count in rows}

    def customer_ids(self, campaign_id: int, *, eligible: bool) -> set[str]:
        """Customer ids of the eligible (or the scrubbed) part of the audience (for reports and tests)."""
        return set(
            self._conn.execute(
                select(campaign_audience.c.customer_id).where(
                    campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.eligible.is_(eligible)
                )
            ).scalars()
        )
