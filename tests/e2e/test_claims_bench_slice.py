"""A small slice of `promobridge bench claims`, so the benchmark cannot rot between full runs.

It runs the benchmark function on real processes for sections b (end to end beside the no-op chain
and the naive pipeline) and d (under a small rate limit), with ~100 claims, and checks the shape of
what it prints and writes, that every claim completed, and that the rate limit was never exceeded
(a guarantee, not a target). The targets themselves are not asserted: the machine is shared.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from benchmarks.claims import ClaimsBenchConfig, run_benchmark
from tests.support.databases import redis_test_url

pytestmark = pytest.mark.e2e
SLICE_REDIS_URL = redis_test_url(14)  # not the full benchmark's database, which may be running


def test_the_claims_benchmark_slice_prints_sections_b_and_d_and_completes_every_claim(tmp_path: Path) -> None:
    config = ClaimsBenchConfig(
        claims=100,
        sections=("b", "d"),
        rate_limit=10,
        rate_window_seconds=2.0,
        budget_windows=1,
        redis_url=SLICE_REDIS_URL,
        final_timeout_seconds=40,
    )
    progress: list[str] = []
    started = time.monotonic()
    report = run_benchmark(config, say=progress.append)
    elapsed = time.monotonic() - started
    table = report.render()
    report.write_json(tmp_path / "figures.json")
    written = json.loads((tmp_path / "figures.json").read_text())

    end_to_end, budget = report.section("b"), report.section("d")
    assert end_to_end.figures["promobridge"]["completed"] == config.claims
    assert budget.figures["promobridge"]["completed"] == config.budget_claims
    assert (
        end_to_end.figures["noop_chains_per_second"] > 0 and end_to_end.figures["naive_claims_per_second"] > 0
    )
    assert {"vs_noop_chain", "vs_naive", "p99_seconds"} <= {row.key for row in end_to_end.rows}
    assert all(row.value > 0 for row in end_to_end.rows)
    assert {"whole_run_vs_ceiling", "rate_limited_429"} <= {row.key for row in budget.rows}
    assert budget.figures["promobridge"]["calls"]["rate_limited_429"] == 0
    assert "(target >= 2)" in table and "(target >= 4)" in table
    assert f"= {config.ceiling:,.1f} claims/s" in table
    assert "verdict b: " in table and "verdict d: " in table and "verdicts  b: " in table
    assert set(written["sections"]) == {"b", "d"} and written["config"]["claims"] == config.claims
    assert any("chains done" in line or "chains/s" in line for line in progress)  # progress was shown
    assert elapsed < 60, f"the slice took {elapsed:.0f} s:\n" + "\n".join(progress)


def test_the_trail_section_runs_a_burst_with_the_trail_off_then_on_and_compares_them() -> None:
    config = ClaimsBenchConfig(
        claims=100, sections=("g",), trail_rounds=1, redis_url=SLICE_REDIS_URL, final_timeout_seconds=40
    )
    progress: list[str] = []
    report = run_benchmark(config, say=progress.append)
    trail = report.section("g")

    assert len(trail.figures["off_claims_per_second"]) == len(trail.figures["on_claims_per_second"]) == 1
    assert all(
        rate > 0 for rate in trail.figures["off_claims_per_second"] + trail.figures["on_claims_per_second"]
    )
    assert {"trail_on_vs_off", "p99_seconds"} == {row.key for row in trail.rows}
    assert "(target >= 0.9)" in report.render()
    assert [line for line in progress if "trail" in line and "restarting" in line] == [
        "  burst 1 of 2: trail off (restarting) …",
        "  burst 2 of 2: trail on (restarting) …",
    ]
