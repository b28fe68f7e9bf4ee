"""Policies dry run: what another policy list would change in a stored audience, changing nothing.

Each customer of a campaign's audience is kept with the attributes Optimove listed them with, so
the policies can be run on them again, page by page (memory stays flat whatever the size), with the
operator's data as it is now (``customer_flags``). Every customer's new verdict is compared with the
stored one and counted: newly scrubbed (by the new reason), newly eligible (by the reason they had),
scrubbed for another reason, moved to another segment. Nothing is written: the units of work are
never committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.clock import utcnow
from app.domain.audience import Decision
from app.domain.reconciliation import IdSample
from app.policies.base import PolicyPipeline
from app.services.unit_of_work import UnitOfWorkFactory

DEFAULT_PAGE_SIZE = 5_000
ARROW = " -> "


@dataclass(frozen=True, slots=True)
class DryRunReport:
    """What the policies would change in one campaign's audience (nothing was changed)."""

    campaign_id: int
    checked_at: datetime
    customers: int
    eligible_now: int
    eligible_after: int
    scrubbed_now: dict[str, int]  # by reason
    scrubbed_after: dict[str, int]
    newly_scrubbed: dict[str, IdSample]  # by the new reason
    newly_eligible: dict[str, IdSample]  # by the reason they had
    reason_changed: dict[str, IdSample]  # "old -> new"
    segment_changed: dict[str, IdSample]  # "old -> new", customers eligible before and after
    unchanged: int

    @property
    def changed(self) -> int:
        """Customers whose verdict or segment would change."""
        return self.customers - self.unchanged

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""

        def samples(buckets: dict[str, IdSample]) -> dict[str, dict[str, Any]]:
            return {key: {"count": s.count, "examples": list(s.examples)} for key, s in buckets.items()}

        return {
            "campaign_id": self.campaign_id,
            "checked_at": self.checked_at.isoformat(),
            "customers": self.customers,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "eligible": {"now": self.eligible_now, "after": self.eligible_after},
            "scrubbed_by_reason": {"now": self.scrubbed_now, "after": self.scrubbed_after},
            "newly_scrubbed": samples(self.newly_scrubbed),
            "newly_eligible": samples(self.newly_eligible),
            "reason_changed": samples(self.reason_changed),
            "segment_changed": samples(self.segment_changed),
        }


@dataclass
class _Buckets:
    """Counts per key and the first few ids of each (bounded by the keys, not by the audience)."""

    examples: int
    counts: dict[str, int] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, customer_id: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        kept = self.ids.setdefault(key, [])
        if len(kept) < self.examples:
            kept.append(customer_id)

    def samples(self) -> dict[str, IdSample]:
        return {key: IdSample(self.counts[key], tuple(self.ids[key])) for key in sorted(self.counts)}


@dataclass
class _Tally:
    examples: int
    customers: int = 0
    eligible_now: int = 0
    eligible_after: int = 0
    unchanged: int = 0
    scrubbed_now: dict[str, int] = field(default_factory=dict)
    scrubbed_after: dict[str, int] = field(default_factory=dict)
    newly_scrubbed: _Buckets = field(init=False)
    newly_eligible: _Buckets = field(init=False)
    reason_changed: _Buckets = field(init=False)
    segment_changed: _Buckets = field(init=False)

    def __post_init__(self) -> None:
        self.newly_scrubbed = _Buckets(self.examples)
        self.newly_eligible = _Buckets(self.examples)
        self.reason_changed = _Buckets(self.examples)
        self.segment_changed = _Buckets(self.examples)

    def count(self, stored: Decision, proposed: Decision) -> None:
        customer_id = stored.candidate.customer_id
        self.customers += 1
        self._verdict(stored, self.scrubbed_now, now=True)
        self._verdict(proposed, self.scrubbed_after, now=False)
        if stored.eligible and not proposed.eligible:
            self.newly_scrubbed.add(_name(proposed.scrub_reason), customer_id)
        elif not stored.eligible and proposed.eligible:
            self.newly_eligible.add(_name(stored.scrub_reason), customer_id)
        elif not stored.eligible and stored.scrub_reason != proposed.scrub_reason:
            self.reason_changed.add(
                _name(stored.scrub_reason) + ARROW + _name(proposed.scrub_reason), customer_id
            )
        elif stored.eligible and stored.segment != proposed.segment:
            self.segment_changed.add(_name(stored.segment) + ARROW + _name(proposed.segment), customer_id)
        else:
            self.unchanged += 1

    def _verdict(self, decision: Decision, scrubbed: dict[str, int], *, now: bool) -> None:
        if decision.eligible:
            if now:
                self.eligible_now += 1
            else:
                self.eligible_after += 1
            return
        reason = _name(decision.scrub_reason)
        scrubbed[reason] = scrubbed.get(reason, 0) + 1


def dry_run_policies(
    uow_factory: UnitOfWorkFactory,
    campaign_id: int,
    pipeline: PolicyPipeline,
    *,
    examples: int = 5,
    page_size: int = DEFAULT_PAGE_SIZE,
    clock: Callable[[], datetime] = utcnow,
) -> DryRunReport | None:
    """Run `pipeline` on the campaign's stored audience and count what would change; None when the
    campaign is unknown. Writes nothing."""
    now = clock()
    tally = _Tally(examples=max(examples, 0))
    with uow_factory() as uow:
        if uow.campaigns.get(campaign_id) is None:
            return None
        has_flags = uow.operator_data.has_any()
    after: str | None = None
    while True:
        with uow_factory() as uow:  # never committed: a dry run writes nothing
            stored = uow.audience.decisions_page(campaign_id, after=after, limit=page_size)
            ids = [d.candidate.customer_id for d in stored]
            flags = uow.operator_data.flags_for(ids) if has_flags and ids else {}
        if not stored:
            break
        proposed = pipeline.decide_all((d.candidate for d in stored), flags)
        for before, again in zip(stored, proposed, strict=True):
            tally.count(before, again)
        after = ids[-1]
    return DryRunReport(
        campaign_id=campaign_id,
        checked_at=now,
        customers=tally.customers,
        eligible_now=tally.eligible_now,
        eligible_after=tally.eligible_after,
        scrubbed_now=dict(sorted(tally.scrubbed_now.items())),
        scrubbed_after=dict(sorted(tally.scrubbed_after.items())),
        newly_scrubbed=tally.newly_scrubbed.samples(),
        newly_eligible=tally.newly_eligible.samples(),
        reason_changed=tally.reason_changed.samples(),
        segment_changed=tally.segment_changed.samples(),
        unchanged=tally.unchanged,
    )


def _name(value: str | None) -> str:
    # As the campaign report shows a missing reason or segment.
    return str(value)
