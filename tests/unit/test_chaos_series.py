"""Chaos runs over consecutive seeds: each seed runs in turn, the table and summary name what failed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.chaos import chaos_group
from benchmarks.chaos import LATE_KILLS, ChaosConfig, ChaosReport, ChaosRunError
from benchmarks.chaos_series import SeedResult, render_table, row, run_series, summary, write_rows
from benchmarks.kill_watch import KillDelay

CONFIG = ChaosConfig(claims=200)
CAUGHT = {"validating": 12}
KILLED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CLEAN = {
    "lost (answered 2xx, no row)": 0,
    "stuck (not terminal)": 0,
    "duplicate rewards": 0,
    "completed but not reported true": 0,
    LATE_KILLS: 0,
}


def _report(config: ChaosConfig, *, stuck: int = 0) -> ChaosReport:
    invariants = {**CLEAN, "stuck (not terminal)": stuck}
    report = ChaosReport(config, invariants=invariants, resent=3, converge_seconds=4.25)
    report.nemesis_injected = {
        "worker_kill": 4, "worker_restart": 2, "redis_restart": 1, "postgres_restart": 1,
    }  # fmt: skip
    report.simulator_faults = {"5xx": 81, "429": 40, "timeout": 39, "applied_lost": 22}
    report.kill_delays = [
        KillDelay("SIGKILL pool child 10 of worker-1", 6.0, KILLED_AT, CAUGHT, 11.5, "validating"),
        KillDelay("SIGKILL whole worker worker-2 (process group 11)", 18.0, KILLED_AT),
    ]
    return report


class ScriptedRuns:
    """Stands in for `run_chaos`: answers each seed with a report, or breaks as told."""

    def __init__(self, *, stuck_seeds: tuple[int, ...] = (), broken_seeds: tuple[int, ...] = ()) -> None:
        self.stuck_seeds, self.broken_seeds = stuck_seeds, broken_seeds
        self.seeds_run: list[int] = []

    def __call__(self, config: ChaosConfig, say: object) -> ChaosReport:
        self.seeds_run.append(config.seed)
        if config.seed in self.broken_seeds:
            raise ChaosRunError("the run broke: AssertionError('the web app')", Path("/tmp/chaos-logs"))
        return _report(config, stuck=3 if config.seed in self.stuck_seeds else 0)


def _series(runs: ScriptedRuns, seeds: range) -> tuple[list[SeedResult], list[str]]:
    said: list[str] = []
    configs = [replace(CONFIG, seed=seed) for seed in seeds]
    return run_series(configs, runs, said.append), said


def test_every_seed_runs_in_turn_and_a_series_where_all_pass_says_so() -> None:
    runs = ScriptedRuns()
    results, said = _series(runs, range(5, 8))

    assert runs.seeds_run == [5, 6, 7]
    assert all(result.passed for result in results)
    assert summary(results) == "ALL 3 SEEDS PASSED"
    assert "[seed 6, run 2/3] PASS in 0 s, longest kill → moving 11.5 s" in said


def test_the_table_has_a_row_per_seed_with_its_faults_invariants_and_longest_kill_delay() -> None:
    results, _ = _series(ScriptedRuns(), range(1, 3))
    table = render_table(results)
    lines = table.splitlines()

    assert lines[0].split() == [
        "seed", "faults", "lost", "stuck", "dup", "unrep", "resent", "converge", "kill→move", "result",
    ]  # fmt: skip
    assert lines[2].split() == [
        "1", "4k", "2w", "1r", "1p", "/", "81+40+39+22",
        "0", "0", "0", "0", "3", "4.2", "s", "11.5", "s", "PASS",
    ]  # fmt: skip
    assert "bound 25 s" in table
    assert lines[-1] == "ALL 2 SEEDS PASSED"


def test_a_failing_seed_is_marked_in_its_row_and_named_in_the_summary() -> None:
    results, said = _series(ScriptedRuns(stuck_seeds=(2,)), range(1, 4))
    table = render_table(results)

    assert [result.passed for result in results] == [True, False, True]
    assert "FAIL: stuck (not terminal): 3" in table.splitlines()[3]
    assert summary(results) == "1 OF 3 SEEDS FAILED: 2"
    assert "[seed 2, run 2/3] FAIL: stuck (not terminal): 3" in said


def test_a_run_that_breaks_fails_its_seed_keeps_its_logs_and_the_next_seeds_still_run() -> None:
    runs = ScriptedRuns(broken_seeds=(1,))
    results, said = _series(runs, range(1, 3))

    assert runs.seeds_run == [1, 2]
    assert not results[0].passed and results[1].passed
    assert results[0].log_dir == "/tmp/chaos-logs"
    assert "the web app" in render_table(results).splitlines()[2]
    assert summary(results) == "1 OF 2 SEEDS FAILED: 1"
    assert any("process logs kept in /tmp/chaos-logs" in line for line in said)


def test_the_json_rows_carry_the_verdict_and_each_kills_delay(tmp_path: Path) -> None:
    results, _ = _series(ScriptedRuns(stuck_seeds=(2,)), range(1, 3))
    path = tmp_path / "rows.json"
    write_rows(path, results)

    rows = json.loads(path.read_text())
    assert [(r["seed"], r["passed"]) for r in rows] == [(1, True), (2, False)]
    assert rows[1]["violations"] == ["stuck (not terminal): 3"]
    assert rows[0]["longest_kill_delay_seconds"] == 11.5
    assert rows[0]["kills"][0]["in_hand"] == {"validating": 12}
    assert rows[0]["kills"][1]["delay_seconds"] is None
    assert row(SeedResult(9, error="boom"))["passed"] is False


# The chaos group itself: the root group would cache this process's settings for the later tests.
@pytest.mark.parametrize("seeds", ["0", "-1", "many"])
def test_the_command_refuses_a_number_of_seeds_that_is_not_positive(seeds: str) -> None:
    result = CliRunner().invoke(chaos_group, ["claims", "--seeds", seeds])

    assert result.exit_code == 2
    assert "--seeds" in result.output


def test_the_command_refuses_a_json_path_it_cannot_write_before_running_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(chaos_group, ["claims", "--json", str(tmp_path / "missing" / "rows.json")])

    assert result.exit_code == 2
    assert "cannot write" in result.output
