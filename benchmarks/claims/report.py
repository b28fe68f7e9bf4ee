"""Sections' results: each figure beside its baseline, the ratio, issue 9's target and a verdict.

A `Row` is one figure; its `Target` applies to the ratio (figure ÷ baseline) or, for latencies
and counts, to the figure itself. A section is met when every target in it is met, unless it
states its own verdict (section e: a ratio OR saturated cores). The same results render as the
printed table and as the JSON written with `--json`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
LABEL_WIDTH = 50


@dataclass(frozen=True)
class Target:
    """A bound from issue 9's "Done when": `op` is >=, <=, < or ==."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        """Whether `value` satisfies the bound."""
        return _OPERATORS[self.op](value, self.bound)

    def __str__(self) -> str:
        return f"target {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Row:
    """One figure: promobridge's, its baseline (if any), the ratio, and the target it must meet."""

    key: str  # name in the JSON output
    label: str
    value: float
    baseline: float | None = None
    target: Target | None = None
    on_ratio: bool = True  # the target bounds value ÷ baseline; False: it bounds the value
    digits: int = 1

    @property
    def ratio(self) -> float | None:
        """value ÷ baseline, when there is a baseline."""
        return self.value / self.baseline if self.baseline else None

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None: this row has no target)."""
        if self.target is None:
            return None
        measured = self.ratio if self.on_ratio else self.value
        return measured is not None and self.target.met(measured)

    def render(self) -> str:
        """The printed line."""
        value = f"{self.value:,.{self.digits}f}"
        baseline = "" if self.baseline is None else f"{self.baseline:,.{self.digits}f}"
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}"
        target = ""
        if self.target is not None:
            target = f"({self.target})  {'met' if self.met else 'NOT met'}"
        return f"  {self.label:<{LABEL_WIDTH}}{value:>12}{baseline:>12}{ratio:>8}  {target}".rstrip()

    def to_json(self) -> dict[str, Any]:
        """The row for the JSON output."""
        return {
            "label": self.label,
            "value": self.value,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": None if self.target is None else f"{self.target.op} {self.target.bound:g}",
            "target_applies_to": None if self.target is None else ("ratio" if self.on_ratio else "value"),
            "met": self.met,
        }


@dataclass
class SectionResult:
    """What one section measured."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # extra figures for the JSON output
    verdict: str | None = None  # its own verdict line; else one from the rows' targets
    verdict_met: bool | None = None

    @property
    def met(self) -> bool:
        """Every target met (or the section's own verdict)."""
        if self.verdict_met is not None:
            return self.verdict_met
        return all(row.met is not False for row in self.rows)

    def render(self) -> list[str]:
        """The section's lines: header, rows, notes, verdict."""
        header = f"  {'measure':<{LABEL_WIDTH}}{'promobridge':>12}{'baseline':>12}{'ratio':>8}"
        judged = [row for row in self.rows if row.met is not None]
        verdict = self.verdict or ", ".join(
            f"{row.label}: {'met' if row.met else 'NOT met'}" for row in judged
        )
        return [
            f"{self.key}. {self.title}",
            header,
            *(row.render() for row in self.rows),
            *(f"  {note}" for note in self.notes),
            f"  verdict {self.key}: {'met' if self.met else 'NOT met'} — {verdict}",
            "",
        ]

    def to_json(self) -> dict[str, Any]:
        """The section for the JSON output."""
        return {
            "title": self.title,
            "met": self.met,
            "rows": {row.key: row.to_json() for row in self.rows},
            "figures": self.figures,
            "notes": self.notes,
            "verdict": self.verdict,
        }


def render(sections: list[SectionResult], header: list[str]) -> str:
    """The whole report: what ran, then each section, then one line of verdicts."""
    summary = "  ".join(f"{s.key}: {'met' if s.met else 'NOT met'}" for s in sections)
    lines = [line for section in sections for line in section.render()]
    return "\n".join(["", *header, "", *lines, f"verdicts  {summary}"])
