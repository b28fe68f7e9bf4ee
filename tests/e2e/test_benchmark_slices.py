"""CI-sized slices of the flow A, gateway and web-edge benchmarks: they work and print their figures.

No timing is asserted here (the machine is shared); the full runs are `promobridge bench ingest`,
`benchmarks.gateway` and `python -m benchmarks.web_edge`.
"""

from __future__ import annotations

import pytest

from benchmarks.gateway import render_gateway, run_gateway_benchmark
from benchmarks.ingest import IngestBenchConfig, render, run_benchmark
from benchmarks.web_edge import EdgeConfig, render_web_edge, run_web_edge_benchmark
from tests.support.databases import redis_test_url

pytestmark = pytest.mark.e2e


def test_the_ingest_benchmark_slice_prints_its_figures_beside_the_baselines() -> None:
    config = IngestBenchConfig(
        customers=12_000,
        small_customers=3_000,
        page_size=1_000,
        rate_limit=10,
        rate_window_seconds=2.0,
        redis_url=redis_test_url(15),
        relays=1,
        trail_rounds=1,
        trail_customers=2_000,
    )
    progress: list[str] = []
    result = run_benchmark(config, say=progress.append)
    table = render(result, config)

    large = result.unlimited[-1]
    assert large.customers == 12_000 and large.ingest_rate > 0 and result.copy_rows_per_second > 0
    assert large.worker_peak_rss_mb > 0 and result.unlimited[0].worker_peak_rss_mb > 0
    assert result.limited is not None and result.limited.rate_limited == 0
    assert result.limited.page_calls >= 12 and result.limited.status_calls >= 1
    assert result.limited_floor_seconds > 0
    assert "customers/s ingested" in table and "webhook → last approval" in table
    assert [trail for trail, _run in result.trail_runs] == [False, True]  # one campaign off, then one on
    assert all(run.customers == 2_000 and run.ingest_rate > 0 for _trail, run in result.trail_runs)
    assert "trail on vs off" in table
    assert any("campaign" in line for line in progress)  # progress was shown


def test_the_gateway_benchmark_slice_measures_both_sides() -> None:
    gateway, health = run_gateway_benchmark(100, say=lambda _line: None)
    assert len(gateway.samples) == len(health.samples) == 100
    assert "p99 ms" in render_gateway(gateway, health)


def test_the_web_edge_benchmark_slice_measures_with_and_without_long_polls() -> None:
    config = EdgeConfig(claims=20, health_requests=20, long_polls=10, concurrency=4)
    result = run_web_edge_benchmark(config, say=lambda _line: None)
    assert len(result.idle.health.samples) == len(result.polled.health.samples) == 20
    assert result.idle.claims_per_second > 0 and result.polled.claims_per_second > 0
    assert result.long_polls == 10 and result.last_poll_answered_ms >= 0
    assert "10 long polls" in render_web_edge(result, config)
