"""One run of `promobridge bench claims`: start everything, run the chosen sections, gather the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psutil

from benchmarks.claims.activator import run_http_activator
from benchmarks.claims.budget import run_budget
from benchmarks.claims.config import SECTION_TITLES, ClaimsBenchConfig
from benchmarks.claims.context import Context, campaign_sizes
from benchmarks.claims.ingress import ingress_audience, run_ingress
from benchmarks.claims.load import load_generator
from benchmarks.claims.pipeline import run_end_to_end, run_paced, run_scaling
from benchmarks.claims.report import SectionResult, render
from benchmarks.claims.runs import ClaimRunner
from benchmarks.claims.stack import WEB_WORKERS, BenchStack, Pipeline
from benchmarks.claims.trail import run_trail_cost
from benchmarks.stack import throwaway_postgres_database

Say = Callable[[str], None]
SECTION_RUNNERS: dict[str, Callable[[Context], SectionResult]] = {
    "a": run_ingress,
    "b": run_end_to_end,
    "c": run_paced,
    "d": run_budget,
    "e": run_scaling,
    "f": run_http_activator,
    "g": run_trail_cost,
}


@dataclass(frozen=True)
class ClaimsBenchReport:
    """Every section's result, and what the run ran on."""

    config: ClaimsBenchConfig
    sections: list[SectionResult]
    header: list[str]

    def section(self, key: str) -> SectionResult:
        """The result of section `key`."""
        return next(s for s in self.sections if s.key == key)

    def render(self) -> str:
        """The printed report."""
        return render(self.sections, self.header)

    def to_json(self) -> dict[str, Any]:
        """Every figure, for `--json`."""
        return {
            "config": {**asdict(self.config), "ceiling": self.config.ceiling},
            "ran_on": self.header,
            "sections": {s.key: s.to_json() for s in self.sections},
            "met": {s.key: s.met for s in self.sections},
        }

    def write_json(self, path: Path) -> None:
        """Write `to_json()` to `path`."""
        path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")


def run_benchmark(config: ClaimsBenchConfig, say: Say = print) -> ClaimsBenchReport:
    """Start every process, run the chosen sections in order, stop everything; progress goes to `say`."""
    with (
        TemporaryDirectory(prefix="promobridge-bench-") as tmp,
        throwaway_postgres_database("promobridge_bench", config.admin_url) as database_url,
        throwaway_postgres_database("promobridge_bench_baseline", config.admin_url) as baseline_url,
    ):
        stack = BenchStack(config, Path(tmp), database_url, baseline_url)
        try:
            sizes = campaign_sizes(config, ingress_audience(config))
            say("starting the simulator and the web …")
            stack.start(",".join(f"{campaign_id}:claim" for campaign_id in sizes))
            load = load_generator(config.connections, prefer_wrk=config.prefer_wrk, warn=say)
            runner = ClaimRunner(
                stack.engine,
                stack.sim,
                f"{stack.web_url}/v1/claims",
                stack.api_key,
                load,
                say,
                config.final_timeout_seconds,
                stack.cpu_groups,
            )
            ctx = Context(config, stack, runner, load, say)
            say("starting the worker and relay; ingesting the campaigns …")
            stack.run_pipeline(Pipeline())
            stack.ready_campaigns(sizes)
            say(f"  {len(sizes)} campaigns ready: " + ", ".join(f"{c} ({n:,})" for c, n in sizes.items()))
            sections = []
            for key in config.ordered_sections():
                say(f"section {key}: {SECTION_TITLES[key]}")
                sections.append(SECTION_RUNNERS[key](ctx))
        except BaseException:
            say(stack.group.logs())
            raise
        finally:
            stack.close()
    return ClaimsBenchReport(config, sections, _header(config, load.describe(), stack.web_threads))


def _header(config: ClaimsBenchConfig, generator: str, threads: int) -> list[str]:
    return [
        f"promobridge bench claims: one run on this machine ({psutil.cpu_count()} cores), every process "
        "started by the benchmark",
        f"  Redis broker ({config.redis_url}); 1 worker process -c {config.worker_concurrency} (2 in e); "
        f"web: gunicorn {WEB_WORKERS} x {threads} threads; relay; simulator; PostgreSQL (throwaway "
        "databases)",
        f"  load generator: {generator}; {config.claims:,} claims per pipeline run",
        "  the machine is shared and noisy: read the ratios (both sides measured minutes apart in this run), "
        "not the absolute rates",
    ]
