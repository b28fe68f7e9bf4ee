"""A campaign's audience in memory, one row per (campaign, customer), as ``app.adapters.db.audience``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.domain.audience import AudienceMember, Candidate, DecidedPage, Decision, PageCounts
from tests.fakes.tables import Table, TableView, json_column, json_value


@dataclass(frozen=True, slots=True)
class AudienceRow:
    """One row of the campaign_audience table."""

    campaign_id: int
    customer_id: str
    page_no: int
    action_id: int | None
    promo_code: str | None
    attributes: str  # JSON text
    segment: str | None
    eligible: bool
    scrub_reason: str | None

    def to_member(self) -> AudienceMember:
        """The customer's place in the audience."""
        return AudienceMember(self.eligible, self.scrub_reason, self.promo_code, self.segment)


def audience_table() -> Table[tuple[int, str], AudienceRow]:
    """An empty campaign_audience table, keyed by its unique (campaign, customer)."""
    return Table("campaign_audience")


class FakeAudience:
    """The audience repository in memory (see ``app.services.unit_of_work.AudienceRepository``)."""

    def __init__(self, rows: TableView[tuple[int, str], AudienceRow]) -> None:
        self._rows = rows

    def write_page(
        self, campaign_id: int, page_no: int, decisions: Sequence[Decision] | DecidedPage
    ) -> PageCounts:
        """Write a page of decided rows (a row already there is kept) and count the rows the page owns."""
        for decision in decisions.decisions() if isinstance(decisions, DecidedPage) else decisions:
            candidate = decision.candidate
            row = AudienceRow(
                campaign_id=campaign_id,
                customer_id=candidate.customer_id,
                page_no=page_no,
                action_id=candidate.action_id,
                promo_code=candidate.promo_code,
                attributes=json_column(dict(candidate.attributes)),
                segment=decision.segment,
                eligible=decision.eligible,
                scrub_reason=decision.scrub_reason,
            )
            self._rows.insert((campaign_id, candidate.customer_id), row)
        owned = self._rows.where(lambda r: r.campaign_id == campaign_id and r.page_no == page_no)
        eligible = sum(1 for row in owned if row.eligible)
        return PageCounts(rows=len(owned), eligible=eligible, scrubbed=len(owned) - eligible)

    def member(self, campaign_id: int, customer_id: str) -> AudienceMember | None:
        """The customer's audience row, or None when they are not targeted."""
        row = self._rows.get((campaign_id, customer_id))
        return None if row is None else row.to_member()

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
        row = AudienceRow(
            campaign_id=campaign_id,
            customer_id=customer_id,
            page_no=page_no,
            action_id=None,
            promo_code=promo_code,
            attributes=json_column({}),
            segment=segment,
            eligible=eligible,
            scrub_reason=scrub_reason,
        )
        return self._rows.insert((campaign_id, customer_id), row)

    def scrub_member(self, campaign_id: int, customer_id: str, *, reason: str) -> bool:
        """Narrow the audience: an eligible customer becomes scrubbed (never the other way round)."""
        row = self._rows.get((campaign_id, customer_id))
        if row is None or not row.eligible:
            return False
        self._rows.update((campaign_id, customer_id), replace(row, eligible=False, scrub_reason=reason))
        return True

    def scrub_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many customers each scrub reason removed (a missing reason counts as "None")."""
        scrubbed = self._rows.where(lambda r: r.campaign_id == campaign_id and not r.eligible)
        return dict(Counter(str(row.scrub_reason) for row in scrubbed))

    def segment_breakdown(self, campaign_id: int) -> dict[str, int]:
        """How many eligible customers fell in each segment (no segment counts as "None")."""
        eligible = self._rows.where(lambda r: r.campaign_id == campaign_id and r.eligible)
        return dict(Counter(str(row.segment) for row in eligible))

    def decisions_page(self, campaign_id: int, *, after: str | None, limit: int) -> list[Decision]:
        """Up to `limit` customers after `after`, in customer id order, with their stored verdicts."""
        rows = sorted(
            self._rows.where(
                lambda r: r.campaign_id == campaign_id and (after is None or r.customer_id > after)
            ),
            key=lambda r: r.customer_id,
        )
        return [
            Decision(
                Candidate(row.customer_id, row.promo_code, row.action_id, json_value(row.attributes)),
                eligible=row.eligible,
                scrub_reason=row.scrub_reason,
                segment=row.segment,
            )
            for row in rows[: max(limit, 0)]
        ]
