"""Grants, statuses and claims set against each other in memory, as ``app.adapters.db.reconciliation``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from app.domain.claims import ClaimState
from app.domain.outbox import PAGE_APPROVALS, PROMOTION_STATUS
from app.domain.reconciliation import GrantSummary, IdSample, StatusComparison, StatusMatch
from tests.fakes.activations import ActivationRow, WalletCreditRow
from tests.fakes.audience import AudienceRow
from tests.fakes.campaigns import CampaignRow
from tests.fakes.claims import ClaimRow
from tests.fakes.outbox import OutboxKey, OutboxRow
from tests.fakes.tables import TableView


class FakeReconciliation:
    """The reconciliation repository in memory (``app.services.unit_of_work.ReconciliationRepository``)."""

    def __init__(
        self,
        outbox: TableView[OutboxKey, OutboxRow],
        activations: TableView[str, ActivationRow],
        wallet: TableView[str, WalletCreditRow],
        claims: TableView[str, ClaimRow],
        campaigns: TableView[int, CampaignRow],
        audience: TableView[tuple[int, str], AudienceRow] | None = None,
    ) -> None:
        self._audience = audience
        self._outbox = outbox
        self._activations = activations
        self._wallet = wallet
        self._claims = claims
        self._campaigns = campaigns

    def compare_statuses_with_grants(
        self,
        campaign_id: int,
        *,
        late_before: datetime,
        examples: int,
        examples_of: frozenset[StatusMatch],
    ) -> StatusComparison:
        """Count every customer with a grant or a status by how the two match, with a few examples."""
        granted = self._granted(campaign_id)
        statuses = {row.customer_id: row for row in self._statuses(campaign_id)}
        by_match: dict[StatusMatch, list[str]] = defaultdict(list)
        for customer_id in granted.keys() | statuses.keys():
            by_match[_match(customer_id in granted, statuses.get(customer_id), late_before)].append(
                customer_id
            )
        return StatusComparison(
            counts={match: len(ids) for match, ids in by_match.items()},
            examples={
                match: tuple(sorted(ids)[: max(examples, 0)])
                for match, ids in by_match.items()
                if match in examples_of and examples > 0
            },
        )

    def grant_summary(self, campaign_id: int, *, examples: int) -> GrantSummary:
        """Customers rewarded, credits and their amount, and the customers credited more than once."""
        granted = self._granted(campaign_id)
        twice = sorted(customer for customer, amounts in granted.items() if len(amounts) > 1)
        return GrantSummary(
            customers=len(granted),
            credits=sum(len(amounts) for amounts in granted.values()),
            amount=sum((sum(amounts, Decimal(0)) for amounts in granted.values()), Decimal(0)),
            rewarded_more_than_once=IdSample(len(twice), tuple(twice[: max(examples, 0)])),
        )

    def resent_statuses(self, campaign_id: int, *, examples: int) -> IdSample:
        """Statuses that reached Optimove in more than one call."""
        resent = sorted(row.customer_id for row in self._statuses(campaign_id) if row.send_count > 1)
        return IdSample(len(resent), tuple(resent[: max(examples, 0)]))

    def stuck_claims(
        self, campaign_id: int, *, stale_before: datetime, now: datetime, examples: int
    ) -> IdSample:
        """Claims on their way to a grant that look abandoned: what the reconciler would dispatch again."""

        def stuck(row: ClaimRow) -> bool:
            if row.state == ClaimState.VALIDATING:
                return row.lease_until is not None and row.lease_until < now
            return (
                row.state in (ClaimState.PENDING, ClaimState.VALIDATED)
                and (row.dispatched_at is None or row.dispatched_at < stale_before)
                and row.updated_at < stale_before
            )

        found = sorted(
            self._claims.where(lambda r: r.campaign_id == campaign_id and stuck(r)),
            key=lambda r: r.updated_at,
        )
        return IdSample(len(found), tuple(row.id for row in found[: max(examples, 0)]))

    def queue_missing_statuses(self, campaign_id: int, *, deadline: datetime | None, now: datetime) -> int:
        """Queue Status true for every rewarded customer without any status."""
        queued = 0
        for customer_id in self._granted(campaign_id):
            row = OutboxRow(
                id=self._outbox.table.next_id(),
                kind=PROMOTION_STATUS,
                campaign_id=campaign_id,
                customer_id=customer_id,
                status=True,
                deadline=deadline,
                created_at=now,
                available_at=now,
            )
            queued += self._outbox.insert((PROMOTION_STATUS, campaign_id, customer_id), row)
        return queued

    def requeue_dead_statuses(self, campaign_id: int, *, now: datetime) -> int:
        """Queue again, as new, the dead-lettered statuses of rewarded customers."""
        granted = self._granted(campaign_id)
        dead = [
            row
            for row in self._statuses(campaign_id)
            if row.dead_at is not None and row.customer_id in granted
        ]
        for row in dead:
            self._outbox.update(
                (row.kind, row.campaign_id, row.customer_id),
                replace(
                    row,
                    dead_at=None,
                    created_at=now,
                    available_at=now,
                    attempts=0,
                    lease_id=None,
                    lease_until=None,
                ),
            )
        campaign = self._campaigns.get(campaign_id)
        if dead and campaign is not None:
            self._campaigns.update(
                campaign_id, replace(campaign, dead_count=max(campaign.dead_count - len(dead), 0))
            )
        return len(dead)

    def _statuses(self, campaign_id: int) -> list[OutboxRow]:
        own = self._outbox.where(lambda r: r.kind == PROMOTION_STATUS and r.campaign_id == campaign_id)
        if self._audience is None:
            return own
        singles = {row.customer_id for row in own}
        by_page = []
        for page in self._outbox.where(lambda r: r.kind == PAGE_APPROVALS and r.campaign_id == campaign_id):
            page_no = page.page_no
            for member in self._audience.where(
                lambda r, page_no=page_no: (
                    r.campaign_id == campaign_id and r.page_no == page_no and r.eligible
                )  # type: ignore[misc]
            ):
                if member.customer_id in singles:
                    continue
                sent = page.sent_through is not None and member.customer_id <= page.sent_through
                by_page.append(
                    replace(
                        page,
                        kind=PROMOTION_STATUS,
                        customer_id=member.customer_id,
                        sent_at=(page.sent_at or page.created_at) if sent else None,
                        dead_at=None if sent else page.dead_at,
                    )
                )
        return own + by_page

    def _granted(self, campaign_id: int) -> dict[str, list[Decimal]]:
        """Each rewarded customer's credits: activation records, and wallet credits of claims without one."""
        granted: dict[str, list[Decimal]] = defaultdict(list)
        for activation in self._activations.rows():
            claim = self._claims.get(activation.claim_id)
            if claim is not None and claim.campaign_id == campaign_id:
                granted[claim.customer_id].append(activation.amount)
        for credit in self._wallet.rows():
            if credit.campaign_id == campaign_id and self._activations.get(credit.claim_id) is None:
                granted[credit.customer_id].append(credit.amount)
        return dict(granted)


def _match(rewarded: bool, status: OutboxRow | None, late_before: datetime) -> StatusMatch:
    if not rewarded:
        assert status is not None
        if status.sent_at is not None:
            return StatusMatch.SENT_WITHOUT_REWARD
        return (
            StatusMatch.DEAD_WITHOUT_REWARD
            if status.dead_at is not None
            else StatusMatch.QUEUED_WITHOUT_REWARD
        )
    if status is None:
        return StatusMatch.MISSING
    if status.sent_at is not None:
        return StatusMatch.REPORTED
    if status.dead_at is not None:
        return StatusMatch.DEAD
    return StatusMatch.LATE if status.created_at < late_before else StatusMatch.WAITING
