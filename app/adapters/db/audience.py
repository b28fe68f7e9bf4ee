"""A campaign's audience: bulk writes (COPY on PostgreSQL) and the verdicts on each customer.

A page written twice changes nothing: rows go in with ON CONFLICT (campaign_id, customer_id)
DO NOTHING, and counts are read back for the rows the page owns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from functools import partial
from itertools import chain, repeat
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from app.adapters.db.dialect import (
    COPY_NULL,
    bulk_insert_ignoring_conflicts,
    copy_field,
    copy_or_undo,
    insert_ignoring_conflicts,
    is_postgres,
    needs_copy_escaping,
    upsert,
)
from app.adapters.db.tables import audience_breakdown, campaign_audience
from app.domain.audience import AttributeColumns, AudienceMember, Candidate, DecidedPage, Decision, PageCounts

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
SCRUB_REASON = "scrub_reason"  # audience_breakdown.kind of scrubbed rows, by reason
SEGMENT = "segment"  # audience_breakdown.kind of eligible rows, by segment
_BREAKDOWN_KEY = ["campaign_id", "page_no", "kind", "name"]


def _breakdown_name(value: str | None) -> str:
    # The report has always shown a missing reason or segment as "None".
    return str(value)


def _copy_column(values: Sequence[str | None]) -> Sequence[str]:
    """A whole column in COPY's text format: one scan decides whether any value needs escaping."""
    if None in values or needs_copy_escaping("".join(values)):  # type: ignore[arg-type]  # no None here
        return [copy_field(v) for v in values]
    return values  # type: ignore[return-value]  # no None: every value is already COPY text


def _json_object(value: object) -> object:
    return dict(value)  # type: ignore[call-overload]  # a Mapping that is not a dict


def _attributes_json(attributes: Sequence[Mapping[str, str | None]]) -> list[str]:
    """Each customer's attributes as the JSON text orjson writes for their mapping."""
    return [orjson.dumps(a, default=_json_object).decode() for a in attributes]


def _attributes_text(names: tuple[str, ...], values: tuple[str | None, ...]) -> str:
    """A customer's attributes, given as their values in `names` order, as orjson writes the mapping."""
    return orjson.dumps(dict(zip(names, values, strict=True))).decode()


def _copy_lines(campaign_id: int, page_no: int, page: DecidedPage) -> str:
    """The page as COPY text.

    Every column but the customer id takes a few values on a page (action, promo code, attributes,
    segment, verdict), so the rest of a row after its id is written once per distinct combination,
    and the text is one join of ids and those tails: no per-row formatting.
    """
    if not len(page):
        return ""
    customers = page.customers
    attributes = customers.attributes
    attribute_keys: Iterable[Hashable]
    encode: Callable[[Any], str]
    if isinstance(attributes, AttributeColumns):
        # A row's attributes as its tuple of values: the JSON is written once per distinct tuple.
        names = attributes.names
        attribute_keys = zip(*map(attributes.column, names), strict=True) if names else repeat((), len(page))
        encode = partial(_attributes_text, names)
    else:
        attribute_keys, encode = _attributes_json(attributes), str
    prefix = f"{campaign_id}\t"

    def tail(key: tuple[Any, ...]) -> str:
        action, promo, attribute_key, segment, eligible, reason = key
        return (
            f"\t{page_no}\t{COPY_NULL if action is None else action}\t{copy_field(promo)}\t"
            f"{copy_field(encode(attribute_key))}\t{copy_field(segment)}\t{'t' if eligible else 'f'}\t"
            f"{copy_field(reason)}\n{prefix}"
        )

    keys = list(
        zip(
            customers.action_ids,
            customers.promo_codes,
            attribute_keys,
            page.segments,
            page.eligible,
            page.scrub_reasons,
            strict=True,
        )
    )
    tails = {key: tail(key) for key in dict.fromkeys(keys)}
    text = "".join(
        chain.from_iterable(
            zip(_copy_column(customers.customer_ids), map(tails.__getitem__, keys), strict=True)
        )
    )
    return prefix + text[: -len(prefix)]


def _row_dicts(campaign_id: int, page_no: int, page: DecidedPage) -> list[dict[str, Any]]:
    customers = page.customers
    return [
        {
            "campaign_id": campaign_id,
            "customer_id": customer_id,
            "page_no": page_no,
            "action_id": action_id,
            "promo_code": promo_code,
            "attributes": dict(attributes),
            "segment": segment,
            "eligible": eligible,
            "scrub_reason": reason,
        }
        for customer_id, action_id, promo_code, attributes, segment, eligible, reason in zip(
            customers.customer_ids,
            customers.action_ids,
            customers.promo_codes,
            customers.attributes,
            page.segments,
            page.eligible,
            page.scrub_reasons,
            strict=True,
        )
    ]


def _breakdown_of(page: DecidedPage) -> dict[tuple[str, str], int]:
    """A page's breakdown from its verdicts (what the grouped read gives once every row was written)."""
    breakdown: dict[tuple[str, str], int] = {}
    for (eligible, reason, segment), count in Counter(
        zip(page.eligible, page.scrub_reasons, page.segments, strict=True)
    ).items():
        key = (SEGMENT, _breakdown_name(segment)) if eligible else (SCRUB_REASON, _breakdown_name(reason))
        breakdown[key] = breakdown.get(key, 0) + count
    return breakdown


def _attributes(stored: Any) -> dict[str, str | None]:
    """The attributes column as written at ingest (names to text or null); anything else is dropped."""
    if not isinstance(stored, dict):
        return {}
    return {
        str(name): value if value is None or isinstance(value, str) else json.dumps(value)
        for name, value in stored.items()
    }


class SqlAudience:
    """The audience repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def write_page(
        self, campaign_id: int, page_no: int, decisions: Sequence[Decision] | DecidedPage
    ) -> PageCounts:
        """Write a page of decided rows (a row already there is kept) and count the rows the page owns.

        On PostgreSQL a page with no row yet is copied straight into the table, as a bare COPY
        would be, and counted from its verdicts; should a customer already be in the audience (listed
        on another page), that copy is undone and the page goes through a staging table instead.
        """
        page = decisions if isinstance(decisions, DecidedPage) else DecidedPage.of(decisions)
        if page and self._copied_fresh(campaign_id, page_no, page):
            breakdown = _breakdown_of(page)
        else:
            if page:
                bulk_insert_ignoring_conflicts(
                    self._conn,
                    campaign_audience,
                    _CONFLICT,
                    _COLUMNS,
                    copy_text=lambda: _copy_lines(campaign_id, page_no, page),
                    rows=lambda: _row_dicts(campaign_id, page_no, page),
                )
            breakdown = self._breakdown_read(campaign_id, page_no)
        self._conn.execute(
            delete(audience_breakdown).where(
                audience_breakdown.c.campaign_id == campaign_id, audience_breakdown.c.page_no == page_no
            )
        )
        if breakdown:
            self._conn.execute(
                insert(audience_breakdown),
                [
                    {
                        "campaign_id": campaign_id,
                        "page_no": page_no,
                        "kind": kind,
                        "name": name,
                        "customers": n,
                    }
                    for (kind, name), n in breakdown.items()
                ],
            )
        rows = sum(breakdown.values())
        eligible = sum(n for (kind, _), n in breakdown.items() if kind == SEGMENT)
        return PageCounts(rows=rows, eligible=eligible, scrubbed=rows - eligible)

    def _copied_fresh(self, campaign_id: int, page_no: int, page: DecidedPage) -> bool:
        """COPY a page that has no row yet straight into the table; False (nothing written) otherwise."""
        if not is_postgres(self._conn):
            return False
        a = campaign_audience.c
        owned = select(a.id).where(a.campaign_id == campaign_id, a.page_no == page_no).limit(1)
        if self._conn.execute(owned).first() is not None:
            return False
        return copy_or_undo(self._conn, campaign_audience, _COLUMNS, _copy_lines(campaign_id, page_no, page))

    def _breakdown_read(self, campaign_id: int, page_no: int) -> dict[tuple[str, str], int]:
        # One grouped read of the rows the page owns gives its counts and its breakdown, which
        # replaces whatever an earlier write of the same page recorded.
        groups = self._conn.execute(
            select(
                campaign_audience.c.eligible,
                campaign_audience.c.scrub_reason,
                campaign_audience.c.segment,
                func.count(),
            )
            .where(campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.page_no == page_no)
            .group_by(
                campaign_audience.c.eligible, campaign_audience.c.scrub_reason, campaign_audience.c.segment
            )
        ).all()
        breakdown: dict[tuple[str, str], int] = {}
        for eligible_row, reason, segment, count in groups:
            key = (
                (SEGMENT, _breakdown_name(segment))
                if eligible_row
                else (SCRUB_REASON, _breakdown_name(reason))
            )
            breakdown[key] = breakdown.get(key, 0) + int(count)
        return breakdown

    def _count_in_breakdown(self, campaign_id: int, page_no: int, kind: str, name: str, delta: int) -> None:
        self._conn.execute(
            upsert(
                self._conn,
                audience_breakdown,
                _BREAKDOWN_KEY,
                {
                    "campaign_id": campaign_id,
                    "page_no": page_no,
                    "kind": kind,
                    "name": name,
                    "customers": delta,
                },
                {"customers": audience_breakdown.c.customers + delta},
            )
        )

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
        added = self._conn.execute(statement).rowcount == 1
        if added:
            kind, name = (SEGMENT, segment) if eligible else (SCRUB_REASON, scrub_reason)
            self._count_in_breakdown(campaign_id, page_no, kind, _breakdown_name(name), 1)
        return added

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
            .returning(campaign_audience.c.page_no, campaign_audience.c.segment)
        )
        moved = result.first()
        if moved is None:
            return False
        page_no, segment = moved
        self._count_in_breakdown(campaign_id, page_no, SEGMENT, _breakdown_name(segment), -1)
        self._count_in_breakdown(campaign_id, page_no, SCRUB_REASON, _breakdown_name(reason), 1)
        return True

    def scrub_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many customers each scrub reason removed (summed over the pages' breakdowns)."""
        return self._breakdown(campaign_id, SCRUB_REASON)

    def segment_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many eligible customers fell in each segment (summed over the pages' breakdowns)."""
        return self._breakdown(campaign_id, SEGMENT)

    def _breakdown(self, campaign_id: int, kind: str) -> dict[str, int]:
        rows = self._conn.execute(
            select(audience_breakdown.c.name, func.sum(audience_breakdown.c.customers))
            .where(audience_breakdown.c.campaign_id == campaign_id, audience_breakdown.c.kind == kind)
            .group_by(audience_breakdown.c.name)
        )
        return {str(name): int(count) for name, count in rows if count}

    def decisions_page(self, campaign_id: int, *, after: str | None, limit: int) -> list[Decision]:
        """Up to `limit` customers after `after`, in customer id order, with their stored verdicts.

        A range of the (campaign_id, customer_id) unique index, so each page costs the same however
        far into the audience it is.
        """
        a = campaign_audience.c
        query = (
            select(
                a.customer_id, a.promo_code, a.action_id, a.attributes, a.eligible, a.scrub_reason, a.segment
            )
            .where(a.campaign_id == campaign_id)
            .order_by(a.customer_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(a.customer_id > after)
        return [
            Decision(
                Candidate(row.customer_id, row.promo_code, row.action_id, _attributes(row.attributes)),
                eligible=bool(row.eligible),
                scrub_reason=row.scrub_reason,
                segment=row.segment,
            )
            for row in self._conn.execute(query)
        ]

    def customer_ids(self, campaign_id: int, *, eligible: bool) -> set[str]:
        """Customer ids of the eligible (or the scrubbed) part of the audience (for reports and tests)."""
        return set(
            self._conn.execute(
                select(campaign_audience.c.customer_id).where(
                    campaign_audience.c.campaign_id == campaign_id, campaign_audience.c.eligible.is_(eligible)
                )
            ).scalars()
        )
