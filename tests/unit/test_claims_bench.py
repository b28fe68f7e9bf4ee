"""How `promobridge bench claims` turns measurements into figures, targets and verdicts, and picks its
load generator (no processes started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.bench import CLAIMS_SECTIONS
from benchmarks.alternation import medians, off_on_order
from benchmarks.claims.budget import steady_rate
from benchmarks.claims.config import SECTIONS, ClaimsBenchConfig
from benchmarks.claims.context import (
    ACTIVATOR_ROUNDS,
    ACTIVATOR_ROUNDS_FROM,
    BURST,
    TRAIL_ROUNDS_FROM,
    campaign_sizes,
)
from benchmarks.claims.cpu import KERNEL, MACHINE, OTHERS, CpuReport
from benchmarks.claims.load import PythonLoad, WrkLoad, load_generator
from benchmarks.claims.pipeline import scaling_verdict
from benchmarks.claims.report import Row, SectionResult, Target
from benchmarks.claims.stack import Pipeline


def test_the_ceiling_of_issue_9_is_about_100_claims_a_second_with_20_contexts_a_call() -> None:
    config = ClaimsBenchConfig(
        rate_limit=50, rate_window_seconds=10, max_contexts=20, status_batch_size=10_000
    )

    assert config.ceiling == pytest.approx(99.8, abs=0.01)
    assert config.ceiling_formula().endswith("= 99.8 claims/s")


def test_the_budget_run_submits_more_claims_than_the_ceiling_takes_in_its_windows() -> None:
    config = ClaimsBenchConfig(claims=300, budget_windows=5)

    assert config.budget_claims == 4991  # 99.8004/s for 5 windows of 10 s, rounded up
    assert ClaimsBenchConfig(claims=6000).budget_claims == 6000


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(ValueError, match="sections"):
        ClaimsBenchConfig(sections=("b", "z"))


def test_the_steady_rate_leaves_out_the_delivery_that_spent_the_first_windows_unused_budget() -> None:
    # 100 claims delivered at 2 s (the first window's burst), then 50 at 10 s, 50 at 20 s, 50 at 30 s.
    completions = [2.0] * 100 + [10.0] * 50 + [20.0] * 50 + [30.0] * 50

    steady = steady_rate(completions, window_seconds=10)

    assert steady is not None
    assert steady.from_seconds == 10.0
    assert steady.claims == 100  # those delivered after the first delivery at or past one window
    assert steady.rate == pytest.approx(5.0)  # 100 claims in the 20 s from 10 s to 30 s


def test_a_run_that_fits_in_its_first_window_has_no_steady_rate() -> None:
    assert steady_rate([0.5, 1.0, 1.5], window_seconds=10) is None
    assert steady_rate([1.0, 12.0, 12.0], window_seconds=10) is None  # one delivery after the window


def test_a_ratio_target_is_judged_on_the_ratio_and_a_latency_target_on_the_figure() -> None:
    throughput = Row("r", "claims/s", 60.0, 100.0, Target(">=", 0.5))
    latency = Row("p99", "p99 s", 0.8, target=Target("<=", 1), on_ratio=False)
    slow = Row("p99", "p99 s", 1.2, target=Target("<=", 1), on_ratio=False)

    assert throughput.ratio == pytest.approx(0.6) and throughput.met is True
    assert latency.met is True and slow.met is False
    assert Row("x", "info", 3.0).met is None
    assert "(target >= 0.5)  met" in throughput.render()
    assert "NOT met" in slow.render()


def test_a_section_is_met_only_when_every_target_in_it_is() -> None:
    met = Row("a", "a", 2.0, 1.0, Target(">=", 1))
    missed = Row("b", "b", 0.5, 1.0, Target(">=", 1))
    untargeted = Row("c", "c", 0.1)

    assert SectionResult("x", "t", [met, untargeted]).met is True
    assert SectionResult("x", "t", [met, missed]).met is False
    assert "verdict x: NOT met" in "\n".join(SectionResult("x", "t", [met, missed]).render())
    assert SectionResult("x", "t", [met], verdict="own", verdict_met=False).met is False


def _cpu(machine: float, others: float, worker: float) -> CpuReport:
    return CpuReport(10.0, 2, {MACHINE: machine, OTHERS: others, "worker": worker}, {})


def test_two_workers_under_the_ratio_pass_only_when_our_processes_saturated_the_two_cores() -> None:
    one = _cpu(machine=120, others=5, worker=90)

    assert scaling_verdict(1.8, one, _cpu(190, 5, 150))[1] is True
    assert scaling_verdict(1.2, one, _cpu(195, 10, 160))[1] is True
    assert scaling_verdict(1.2, one, _cpu(150, 5, 120))[1] is False
    # Saturated, but by other sessions on the machine: that says nothing about promobridge.
    saturated_by_others = scaling_verdict(1.2, one, _cpu(195, 80, 90))
    assert saturated_by_others[1] is False and "did not saturate" in saturated_by_others[0]
    # The kernel's own work (the loopback traffic between the benchmark's processes) is not another session's.
    with_kernel = CpuReport(10.0, 2, {MACHINE: 198, OTHERS: 6, KERNEL: 35, "web": 157}, {})
    verdict, met = scaling_verdict(1.0, one, with_kernel)
    assert (
        met is True and "kernel not charged to a process 35 %" in verdict and "other processes 6 %" in verdict
    )
    assert with_kernel.busiest(1) == [("web", 157)]  # the kernel is shown, not named the busiest


def test_a_pipeline_sets_only_what_it_changes_and_lets_the_rest_fall_back_to_defaults() -> None:
    config = ClaimsBenchConfig(retry_backoff_base_seconds=0.5, rate_window_seconds=10)
    env = {"REWARD_ACTIVATOR_URL": "http://old", "STATUS_LINGER_SECONDS": "99"}

    Pipeline(activator="http").apply(env, config, "http://sim")
    assert env["REWARD_ACTIVATOR"] == "http"
    assert env["REWARD_ACTIVATOR_URL"] == "http://sim/_operator/grants"
    assert env["RETRY_BACKOFF_BASE_SECONDS"] == "0.5"
    assert "STATUS_LINGER_SECONDS" not in env and env["OPTIMOVE_RATE_LIMIT_ENABLED"] == "false"

    Pipeline(limited=True, max_contexts=20).apply(env, config, "http://sim")
    assert env["OPTIMOVE_RATE_LIMIT_ENABLED"] == "true" and env["OPTIPROMO_MAX_CONTEXTS"] == "20"
    assert env["STATUS_LINGER_SECONDS"] == "10" and env["REWARD_ACTIVATOR"] == "wallet"
    assert "REWARD_ACTIVATOR_URL" not in env and "RETRY_BACKOFF_BASE_SECONDS" not in env


def test_without_wrk_the_python_load_generator_runs_and_the_benchmark_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH on which no wrk is found
    warnings: list[str] = []

    generator = load_generator(32, prefer_wrk=True, warn=warnings.append)

    assert isinstance(generator, PythonLoad) and generator.connections == 32
    assert len(warnings) == 1 and "wrk is not installed" in warnings[0]


def test_wrk_is_used_when_it_is_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    wrk = tmp_path / "wrk"
    wrk.write_text("#!/bin/sh\n")
    wrk.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    warnings: list[str] = []

    assert isinstance(load_generator(16, prefer_wrk=True, warn=warnings.append), WrkLoad)
    assert isinstance(load_generator(16, prefer_wrk=False, warn=warnings.append), PythonLoad)
    assert warnings == []


def test_the_trail_bursts_alternate_off_on_on_off_so_both_sides_meet_the_same_drift() -> None:
    assert off_on_order(1) == [False, True]
    assert off_on_order(3) == [False, True, True, False, False, True]
    assert off_on_order(4).count(True) == off_on_order(4).count(False) == 4


def test_the_trail_section_claims_on_a_campaign_of_its_own_per_burst() -> None:
    config = ClaimsBenchConfig(sections=("b", "g"), trail_rounds=2, claims=500)
    sizes = campaign_sizes(config, ingress_audience=0)
    bursts = [campaign for campaign in sizes if campaign >= TRAIL_ROUNDS_FROM]
    assert len(bursts) == 4 and all(sizes[c] == 500 for c in bursts)
    assert BURST in sizes and BURST not in bursts


def test_the_activator_section_alternates_its_own_wallet_and_http_bursts_on_campaigns_of_their_own() -> None:
    config = ClaimsBenchConfig(sections=("f", "g"), trail_rounds=2, claims=500)
    sizes = campaign_sizes(config, ingress_audience=0)
    rounds = [ACTIVATOR_ROUNDS_FROM + n for n in range(2 * ACTIVATOR_ROUNDS)]

    assert all(sizes[c] == 500 for c in rounds)
    assert max(rounds) < TRAIL_ROUNDS_FROM, "(g)'s bursts, however many, never share a campaign with (f)'s"
    assert BURST not in sizes, "(f) measures the wallet activator itself, beside its own bursts"
    assert len(sizes) == 6 + 3 + 4  # (f)'s rounds, its failing burst and two paced runs; (g)'s bursts


def test_the_command_line_offers_exactly_the_benchmarks_sections() -> None:
    assert CLAIMS_SECTIONS == SECTIONS


def test_the_trail_section_runs_last_so_no_section_after_it_runs_with_the_trail_switched_off() -> None:
    assert SECTIONS[-1] == "g"
    assert ClaimsBenchConfig(sections=("g", "b")).ordered_sections() == ["b", "g"]


def test_each_sides_median_is_taken_over_its_own_runs() -> None:
    assert medians([(False, 10.0), (True, 7.0), (True, 9.0), (False, 30.0), (False, 11.0), (True, 8.0)]) == (
        8.0,
        11.0,
    )
