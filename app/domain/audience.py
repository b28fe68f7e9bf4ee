"""Audience members and the verdicts that policies give on them (framework-free)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """One targeted customer as Optimove listed it, before the operator's policies ran."""

    customer_id: str
    promo_code: str | None
    action_id: int | None
    attributes: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class OperatorFlags:
    """What the operator's own data says about a customer (None where it says nothing)."""

    consent: bool | None = None
    fraud: bool | None = None
    vip_level: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A policy's answer: scrub with a reason, and/or assign a segment, or nothing (keep)."""

    scrub_reason: str | None = None
    segment: str | None = None

    @property
    def scrubs(self) -> bool:
        """Whether this verdict removes the customer from the campaign."""
        return self.scrub_reason is not None


KEEP = Verdict()


@dataclass(frozen=True, slots=True)
class Decision:
    """The pipeline's outcome for one candidate: eligible or scrubbed, and its segment."""

    candidate: Candidate
    eligible: bool
    scrub_reason: str | None
    segment: str | None
    scrubbed_by: int | None = None  # the index of the policy that scrubbed, in its pipeline


TRUTHY = frozenset({"1", "true", "yes", "y", "t"})
FALSY = frozenset({"0", "false", "no", "n", "f"})


def attribute_flag(value: str | None) -> bool | None:
    """Read an Optimove attribute as a boolean; None when it is missing or unrecognised."""
    if value is None:
        return None
    normalised = value.strip().lower()
    if normalised in TRUTHY:
        return True
    if normalised in FALSY:
        return False
    return None


@dataclass(frozen=True, slots=True)
class PageCounts:
    """What one page contributed to the audience."""

    rows: int
    eligible: int
    scrubbed: int


@dataclass(frozen=True, slots=True)
class AudienceMember:
    """One customer's place in a campaign's audience."""

    eligible: bool
    scrub_reason: str | None
    promo_code: str | None
    segment: str | None
