"""VIP segmentation: every customer gets a segment the reward-scaling policies can use later."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

from app.domain.audience import Candidate, CustomerPage, OperatorFlags, Verdict
from app.policies.base import Policy, customers_flags, picked

DEFAULT_SEGMENTS: Mapping[int, str] = {0: "standard", 1: "silver", 2: "gold", 3: "platinum"}


def parse_segments(spec: str) -> dict[int, str]:
    """Parse ``"0:standard,1:silver"`` into a level → segment mapping."""
    segments: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        level, _, name = part.partition(":")
        if not name or not level.strip().lstrip("-").isdigit():
            raise ValueError(f"VIP segment {part!r} is not of the form LEVEL:NAME")
        segments[int(level)] = name.strip()
    return segments


class VipSegmentation(Policy):
    """Assign a segment from the VIP level (the operator's data wins over Optimove's attribute).

    Levels above the highest configured one take the highest segment; unknown levels take the
    lowest. It never scrubs.
    """

    name = "vip_segmentation"

    def __init__(self, attribute: str = "VIPLevel", segments: str | Mapping[int, str] | None = None) -> None:
        self.attribute = attribute
        mapping = (
            parse_segments(segments) if isinstance(segments, str) else dict(segments or DEFAULT_SEGMENTS)
        )
        if not mapping:
            raise ValueError("VipSegmentation needs at least one segment")
        self.segments = dict(sorted(mapping.items()))
        self._levels = list(self.segments)

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        """Map the customer's VIP level to a segment."""
        level = (
            flags.vip_level
            if flags.vip_level is not None
            else _as_int(candidate.attributes.get(self.attribute))
        )
        return Verdict(segment=self._segment_for(level))

    def evaluate_page(
        self, page: CustomerPage, flags: Mapping[str, OperatorFlags], rows: Sequence[int]
    ) -> Sequence[Verdict]:
        """The same verdicts for a page: one shared verdict per distinct level."""
        values = picked(page.column(self.attribute), rows)
        by_level: dict[int | None, Verdict] = {}
        by_value = {value: self._verdict_for(_as_int(value), by_level) for value in dict.fromkeys(values)}
        verdicts = list(map(by_value.__getitem__, values))
        own = customers_flags(page, flags, rows)
        if own is not None:
            for position, customer_flags in enumerate(own):
                if customer_flags is not None and customer_flags.vip_level is not None:
                    verdicts[position] = self._verdict_for(customer_flags.vip_level, by_level)
        return verdicts

    def _verdict_for(self, level: int | None, known: dict[int | None, Verdict]) -> Verdict:
        verdict = known.get(level)
        if verdict is None:
            verdict = known[level] = Verdict(segment=self._segment_for(level))
        return verdict

    def _segment_for(self, level: int | None) -> str:
        levels = self._levels
        if level is None or level < levels[0]:
            return self.segments[levels[0]]
        return self.segments[levels[bisect.bisect_right(levels, level) - 1]]


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
