"""Audience members and the verdicts that policies give on them (framework-free)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import not_
from typing import overload


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


class AttributeColumns(Sequence[Mapping[str, str | None]]):
    """A page's attributes kept as one column per name, as a sequence of per-customer mappings.

    Building 10,000 dicts for a page cost a tenth of a worker's CPU; a policy reads one column of
    them, and a customer's mapping is built only when asked for (a scrubbed customer's evidence, a
    policy written per customer).
    """

    __slots__ = ("_columns", "_length", "names")

    def __init__(self, names: Sequence[str], columns: Sequence[Sequence[str | None]], length: int) -> None:
        if len(names) != len(columns) or any(len(c) != length for c in columns):
            raise ValueError("one column of `length` values per attribute name")
        self.names = tuple(names)
        self._columns = dict(zip(self.names, columns, strict=True))
        self._length = length

    def column(self, name: str) -> Sequence[str | None]:
        """Every customer's value of one attribute (None where it was not asked for)."""
        found = self._columns.get(name)
        return found if found is not None else [None] * self._length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Mapping[str, str | None]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, str | None]]: ...
    def __getitem__(
        self, index: int | slice
    ) -> Mapping[str, str | None] | Sequence[Mapping[str, str | None]]:
        if isinstance(index, slice):
            kept = range(self._length)[index]
            return AttributeColumns(
                self.names, [[c[i] for i in kept] for c in self._columns.values()], len(kept)
            )
        if not -self._length <= index < self._length:
            raise IndexError(index)
        return {name: column[index] for name, column in self._columns.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like a list

    def __repr__(self) -> str:
        return f"AttributeColumns({self.names!r}, {self._length} customers)"


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """One page of targeted customers, column by column: 10,000 rows cost no object per customer.

    `attributes[i]` maps the attribute names asked for to customer i's values, as Optimove sent them.
    """

    customer_ids: Sequence[str]
    action_ids: Sequence[int | None]
    promo_codes: Sequence[str | None]
    attributes: Sequence[Mapping[str, str | None]]

    def __len__(self) -> int:
        return len(self.customer_ids)

    @classmethod
    def of(cls, candidates: Iterable[Candidate]) -> CustomerPage:
        """A page holding these candidates, in order."""
        rows = list(candidates)
        return cls(
            [c.customer_id for c in rows],
            [c.action_id for c in rows],
            [c.promo_code for c in rows],
            [c.attributes for c in rows],
        )

    def column(self, name: str) -> Sequence[str | None]:
        """Every customer's value of one attribute (None where it is missing)."""
        if isinstance(self.attributes, AttributeColumns):
            return self.attributes.column(name)
        return [values.get(name) for values in self.attributes]

    def candidate(self, index: int) -> Candidate:
        """Customer `index` as a Candidate (for policies written per customer)."""
        return Candidate(
            self.customer_ids[index], self.promo_codes[index], self.action_ids[index], self.attributes[index]
        )

    def candidates(self) -> Iterator[Candidate]:
        """Every customer as a Candidate, in page order."""
        return (self.candidate(i) for i in range(len(self.customer_ids)))


@dataclass(frozen=True, slots=True)
class DecidedPage:
    """A page with the pipeline's verdict on each customer, column by column (index i is customer i)."""

    customers: CustomerPage
    eligible: Sequence[bool]
    scrub_reasons: Sequence[str | None]
    segments: Sequence[str | None]
    scrubbed_by: Sequence[int | None] | None = None  # the index of the policy that scrubbed each

    def __len__(self) -> int:
        return len(self.eligible)

    @classmethod
    def of(cls, decisions: Sequence[Decision]) -> DecidedPage:
        """The columnar form of a list of decisions."""
        return cls(
            CustomerPage.of(d.candidate for d in decisions),
            [d.eligible for d in decisions],
            [d.scrub_reason for d in decisions],
            [d.segment for d in decisions],
            [d.scrubbed_by for d in decisions],
        )

    def decisions(self) -> Iterator[Decision]:
        """Every customer's Decision, in page order."""
        by = self.scrubbed_by
        for i, candidate in enumerate(self.customers.candidates()):
            yield Decision(
                candidate,
                self.eligible[i],
                self.scrub_reasons[i],
                self.segments[i],
                scrubbed_by=None if by is None else by[i],
            )

    def scrubbed(self) -> Iterator[Decision]:
        """The Decision of every scrubbed customer (no object for the eligible ones)."""
        by = self.scrubbed_by
        customers = self.customers
        # Found without a Python loop over the page: most of its customers are eligible.
        for i in compress(range(len(self.eligible)), map(not_, self.eligible)):
            yield Decision(
                customers.candidate(i),
                False,
                self.scrub_reasons[i],
                self.segments[i],
                scrubbed_by=None if by is None else by[i],
            )

    def counts(self) -> PageCounts:
        """Rows, eligible and scrubbed, as if every row of the page were written."""
        eligible = sum(self.eligible)
        return PageCounts(rows=len(self.eligible), eligible=eligible, scrubbed=len(self.eligible) - eligible)
