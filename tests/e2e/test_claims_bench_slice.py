"""A small slice of `promobridge bench claims`, so the benchmark cannot rot between full runs.

It runs the whole benchmark function on real processes (100 claims, 20 baseline chains, a small rate
limit) and checks that every figure it prints is positive and that the rate limit was never exceeded.
"""

from __future__ import annotations

import time

import pytest

from benchmarks.claims import ClaimsBenchConfig, render, run_benchmark
from tests.support.databases import redis_test_url

pytestmark = pytest.mark.e2e
SLICE_REDIS_URL = redis_test_url(14)  # not the full benchmark's database, which may be running


def test_claims_benchmark_slice_prints_positive_figures_and_no_429s() -> None:
    config = ClaimsBenchConfig(
        claims=100,
        chains=20,
        rate_limit=10,
        rate_window_seconds=2.0,
        redis_url=SLICE_REDIS_URL,
        final_timeout_seconds=40,
    )
    progress: list[str] = []
    started = time.monotonic()
    result = run_benchmark(config, say=progress.append)
    table = render(result, config)
    elapsed = time.monotonic() - started

    assert result.unlimited is not None and result.limited is not None
    assert result.chain_rate > 0
    for run in (result.unlimited, result.limited):
        assert run.completed == config.claims
        assert run.rate > 0 and run.submit_rate > 0
        assert all(seconds > 0 for seconds in run.latency[:2])
        assert run.validate_calls > 0 and run.status_calls > 0
        assert run.contexts_validated >= config.claims
    assert result.limited.rate_limited == 0
    assert "claims/s, limit off, 100 claims" in table and "claims/s, limit 10/2s, 100 claims" in table
    assert f"= {config.ceiling:,.1f} claims/s" in table
    assert elapsed < 60, f"the slice took {elapsed:.0f} s:\n" + "\n".join(progress)
