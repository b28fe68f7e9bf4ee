"""Chaos runs over consecutive seeds: one complete run per seed, then a table and a verdict.

Why: one seed is one schedule of crashes and Optimove faults; a guarantee that holds for one may
break under another (a kill landing mid-validation, a restart during a status send). Running many
seeds in a row, each on fresh private servers, is how the fault run earns trust; a run that breaks
(a server would not start) is a failed seed, and the next seeds still run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.chaos import ChaosConfig, ChaosReport, ChaosRunError

Say = Callable[[str], None]
RunChaos = Callable[[ChaosConfig, Say], ChaosReport]
NEMESIS_LETTERS = {"worker_kill": "k", "worker_restart": "w", "redis_restart": "r", "postgres_restart": "p"}
OPTIMOVE_FAULTS = ("5xx", "429", "timeout", "applied_lost")
TABLE_COLUMNS = (
    ("seed", 6),
    ("faults", 26),
    ("lost", 5),
    ("stuck", 6),
    ("dup", 4),
    ("unrep", 6),
    ("resent", 7),
    ("converge", 9),
    ("kill→move", 10),
)
LEGEND = (
    "faults: nemesis k pool-child kills, w whole-worker kills, r Redis restarts, p PostgreSQL restarts / "
    "Optimove 5xx+429+timeouts+applied-then-lost; dup: duplicate rewards; unrep: completed but not "
    "reported; kill→move: the longest kill → moving delay"
)


@dataclass(frozen=True)
class SeedResult:
    """One seed's run: its report, or why the run broke before a verdict."""

    seed: int
    report: ChaosReport | None = None
    error: str | None = None
    log_dir: str | None = None

    @property
    def passed(self) -> bool:
        """Whether the run finished and every invariant held."""
        return self.report is not None and not self.report.violations

    @property
    def why_failed(self) -> str:
        """The violated invariants, or the error that broke the run ('' when it passed)."""
        if self.report is None:
            return self.error or "no report"
        return "; ".join(self.report.violations)


def run_seed(config: ChaosConfig, run: RunChaos, say: Say) -> SeedResult:
    """Run one seed; a run that breaks becomes a failed result (Ctrl-C still stops everything)."""
    try:
        report = run(config, say)
    except ChaosRunError as exc:
        return SeedResult(config.seed, error=str(exc), log_dir=str(exc.log_dir))
    except Exception as exc:
        return SeedResult(config.seed, error=f"{type(exc).__name__}: {exc}")
    return SeedResult(config.seed, report, log_dir=report.log_dir)


def run_series(
    configs: Sequence[ChaosConfig],
    run: RunChaos,
    say: Say,
    *,
    after_each: Callable[[list[SeedResult]], None] | None = None,
) -> list[SeedResult]:
    """Run every config in turn, saying which seed runs and how it ended; `after_each` sees the results
    so far after each seed."""
    results: list[SeedResult] = []
    for number, config in enumerate(configs, 1):
        tag = f"[seed {config.seed}, run {number}/{len(configs)}]"
        say(f"{tag} starting: {config.claims:,} claims on fresh private PostgreSQL and Redis")
        result = run_seed(config, run, _prefixed(say, tag))
        results.append(result)
        kept = f"; process logs kept in {result.log_dir}" if result.log_dir else ""
        say(f"{tag} {_verdict(result)}{kept}")
        if after_each is not None:
            after_each(results)
    return results


def _prefixed(say: Say, tag: str) -> Say:
    def tagged(line: str) -> None:
        say(f"{tag} {line}")

    return tagged


def _verdict(result: SeedResult) -> str:
    if result.passed and result.report is not None:
        return f"PASS in {result.report.total_seconds:.0f} s, longest kill → moving {_delay(result.report)}"
    return f"FAIL: {result.why_failed}"


def _delay(report: ChaosReport) -> str:
    if any(kill.unmoved for kill in report.kill_delays):
        return "never"  # some claim caught at a kill had not moved when the run ended
    if any(kill.unmeasured for kill in report.kill_delays):
        return "unknown"
    longest = report.longest_kill_delay
    return "n/a" if longest is None else f"{longest:.1f} s"


def compact_faults(report: ChaosReport) -> str:
    """The faults injected, by kind, in a few characters: `4k 2w 1r 1p / 81+40+39+22` (see LEGEND)."""
    nemesis = " ".join(
        f"{report.nemesis_injected.get(kind, 0)}{letter}" for kind, letter in NEMESIS_LETTERS.items()
    )
    optimove = "+".join(str(report.simulator_faults.get(kind, 0)) for kind in OPTIMOVE_FAULTS)
    return f"{nemesis} / {optimove}"


def _cells(result: SeedResult) -> list[str]:
    report = result.report
    if report is None:
        return [str(result.seed), *("-" for _ in TABLE_COLUMNS[1:])]
    inv = report.invariants
    converged = f"{report.converge_seconds:.1f} s" if report.converge_seconds is not None else "never"
    return [
        str(result.seed),
        compact_faults(report),
        str(inv.get("lost (answered 2xx, no row)", 0)),
        str(inv.get("stuck (not terminal)", 0)),
        str(inv.get("duplicate rewards", 0)),
        str(inv.get("completed but not reported true", 0)),
        str(report.resent),
        converged,
        _delay(report),
    ]


def render_table(results: Sequence[SeedResult]) -> str:
    """The table over seeds, its legend, and the summary line."""
    header = "  ".join(f"{name:<{width}}" for name, width in TABLE_COLUMNS) + "  result"
    lines = [header, "-" * len(header)]
    for result in results:
        widths = [width for _, width in TABLE_COLUMNS]
        cells = "  ".join(f"{cell:<{width}}" for cell, width in zip(_cells(result), widths, strict=True))
        lines.append(f"{cells}  {'PASS' if result.passed else 'FAIL: ' + result.why_failed}")
    bounds = {result.report.kill_delay_bound for result in results if result.report is not None}
    bound = ", ".join(f"{b:g} s" for b in sorted(bounds)) or "n/a"
    lines += ["", LEGEND + f" (bound {bound}, a violation fails the seed)", summary(results)]
    return "\n".join(lines)


def summary(results: Sequence[SeedResult]) -> str:
    """One line: every seed passed, or which failed and why."""
    failed = [result for result in results if not result.passed]
    if not failed:
        return f"ALL {len(results)} SEEDS PASSED"
    listed = ", ".join(str(result.seed) for result in failed)
    return f"{len(failed)} OF {len(results)} SEEDS FAILED: {listed}"


def row(result: SeedResult) -> dict[str, Any]:
    """One seed as a JSON object: the verdict, every invariant and figure, each kill's delay."""
    report = result.report
    base: dict[str, Any] = {
        "seed": result.seed,
        "passed": result.passed,
        "error": result.error,
        "log_dir": result.log_dir,
    }
    if report is None:
        return base
    return {
        **base,
        "claims": report.config.claims,
        "violations": report.violations,
        "invariants": report.invariants,
        "nemesis_faults": report.nemesis_injected,
        "optimove_faults": report.simulator_faults,
        "resent": report.resent,
        "resent_after_ambiguous": report.resent_after_ambiguous,
        "states": report.states,
        "crashes": report.crashes,
        "converge_seconds": report.converge_seconds,
        "total_seconds": report.total_seconds,
        "kill_delay_bound_seconds": report.kill_delay_bound,
        "longest_kill_delay_seconds": report.longest_kill_delay,
        "kills": [
            {
                "what": kill.what,
                "at_seconds": kill.at,
                "killed_at": kill.killed_at.isoformat(),
                "in_hand": kill.in_hand,
                "delay_seconds": kill.delay,
                "slowest_state": kill.slowest,
                "unmoved": kill.unmoved,
                "unmeasured": kill.unmeasured,
            }
            for kill in report.kill_delays
        ],
    }


def write_rows(path: Path, results: Sequence[SeedResult]) -> None:
    """Write every seed's row so far to `path` (rewritten whole: an interrupted series keeps them)."""
    path.write_text(json.dumps([row(result) for result in results], indent=2) + "\n")
