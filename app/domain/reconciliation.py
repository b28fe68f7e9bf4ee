"""What a campaign's records say against each other: grants, statuses for Optimove, claims (framework-free).

A reward granted (a wallet credit or an activation record) must be reported to Optimove once; a
status reported for a claim-mode customer must stand for a reward. Reconciliation sets the two
against each other customer by customer and sorts every customer into one ``StatusMatch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class StatusMatch(StrEnum):
    """How one customer's grant and status (for Optimove) match; each customer is in exactly one."""

    REPORTED = "reported"  # rewarded, and the status was sent
    WAITING = "waiting"  # rewarded, the status queued (not for long)
    LATE = "late"  # rewarded, the status queued for longer than it should take
    DEAD = "dead"  # rewarded, the status dead-lettered
    MISSING = "missing"  # rewarded, and no status at all
    SENT_WITHOUT_REWARD = "sent_without_reward"  # a status sent, no reward recorded
    QUEUED_WITHOUT_REWARD = "queued_without_reward"  # a status queued, no reward recorded
    DEAD_WITHOUT_REWARD = "dead_without_reward"  # a status dead-lettered, no reward recorded


REWARDED = frozenset(
    {StatusMatch.REPORTED, StatusMatch.WAITING, StatusMatch.LATE, StatusMatch.DEAD, StatusMatch.MISSING}
)
STATUS_SENT = frozenset({StatusMatch.REPORTED, StatusMatch.SENT_WITHOUT_REWARD})
STATUS_QUEUED = frozenset({StatusMatch.WAITING, StatusMatch.LATE, StatusMatch.QUEUED_WITHOUT_REWARD})
STATUS_DEAD = frozenset({StatusMatch.DEAD, StatusMatch.DEAD_WITHOUT_REWARD})


@dataclass(frozen=True, slots=True)
class IdSample:
    """How many records fall in a bucket, and the ids of a few of them to look at."""

    count: int = 0
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusComparison:
    """A campaign's customers with a grant or a status, counted by `StatusMatch` (absent: none)."""

    counts: Mapping[StatusMatch, int] = field(default_factory=dict)
    examples: Mapping[StatusMatch, tuple[str, ...]] = field(default_factory=dict)

    def sample(self, match: StatusMatch) -> IdSample:
        """The count and examples of one match."""
        return IdSample(self.counts.get(match, 0), self.examples.get(match, ()))

    def total(self, matches: frozenset[StatusMatch]) -> int:
        """How many customers fall in any of `matches`."""
        return sum(self.counts.get(match, 0) for match in matches)


@dataclass(frozen=True, slots=True)
class GrantSummary:
    """What a campaign granted: customers rewarded, credits (one per claim), their amount, and the
    customers credited more than once."""

    customers: int = 0
    credits: int = 0
    amount: Decimal = Decimal(0)
    rewarded_more_than_once: IdSample = IdSample()
