"""A slice of `promobridge chaos claims` in the default run: every kind of crash once, on 150 claims,
and the delay from each worker kill to its claims moving again, within its bound.

Why in the default run: the guarantees of DESIGN §2 (a claim answered 2xx is never lost, rewarded at
most once, always reported) are exactly what a change to retries, leases or the reconciler can break
without any unit test noticing. The full run (2,000 claims, more crashes) is the CLI command.
"""

from __future__ import annotations

import shutil

import pytest

from app.cli.chaos import render
from benchmarks.chaos import LATE_KILLS, RECONCILE_DISCREPANCIES, ChaosConfig, run_chaos
from benchmarks.servers import POSTGRES_BINDIR

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (POSTGRES_BINDIR / "initdb").exists() or shutil.which("redis-server") is None,
        reason="needs PostgreSQL's server binaries and redis-server to start private servers",
    ),
]

SLICE = ChaosConfig(
    claims=150,
    seed=7,
    worker_kills=1,
    worker_restarts=1,
    redis_restarts=1,
    postgres_restarts=1,
    convergence_timeout=90,
)


def test_claims_survive_worker_redis_and_postgres_crashes_and_optimove_faults() -> None:
    progress: list[str] = []
    report = run_chaos(SLICE, say=progress.append)
    story = "\n".join(progress)

    assert report.violations == [], story
    assert report.converge_seconds is not None, story
    assert report.submitted == SLICE.claims
    assert set(report.invariants) >= {
        "lost (answered 2xx, no row)",
        "stuck (not terminal)",
        "duplicate rewards",
        "completed but not reported true",
        LATE_KILLS,
        RECONCILE_DISCREPANCIES,  # finance's reconciliation finds nothing once the run converged
    }
    # Every fault really happened: four injected by the nemesis, and Optimove misbehaved.
    assert not [line for line in report.nemesis_log if "could not be injected" in line], story
    for fault in ("SIGKILL pool child", "SIGKILL whole worker", "Redis SIGKILLed", "PostgreSQL stopped"):
        assert any(fault in line for line in report.nemesis_log), story
    assert sum(report.simulator_faults.values()) > 0
    # Each worker SIGKILL (a pool child, a whole worker) was timed: its claims in hand were snapshotted
    # and all moved again within CLAIM_STALE_AFTER_SECONDS (10 in the run) + 15 s.
    assert report.kill_delay_bound == 25.0
    killed = sorted(" ".join(kill.what.split()[:2]) for kill in report.kill_delays)
    assert killed == ["SIGKILL pool", "SIGKILL whole"], story
    for kill in report.kill_delays:
        assert kill.unmeasured is None and kill.unmoved == 0, kill.describe()
        assert (kill.delay is None) == (kill.caught == 0), kill.describe()
        assert kill.within(report.kill_delay_bound), kill.describe()
    longest = report.longest_kill_delay
    assert longest is None or longest <= report.kill_delay_bound
    assert "kill → moving delay, longest" in render(report)
