"""Load generators that POST claims, one customer per request: wrk (a Lua script), or Python threads.

Both drive an endpoint either for a duration (the ingress measurements of section a) or until every
customer of a range has its claim (the bursts of the pipeline sections). wrk is preferred: it
spends a fraction of the CPU Python does per request, on a machine where every core is measured.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import shutil
import signal
import statistics
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import requests

LUA_SCRIPT = Path(__file__).with_name("claims.lua")
RESULT_MARKER = "promobridge-load "
WRK_THREADS = 2  # as the perf baselines ran it (wrk -t2)
REQUEST_TIMEOUT_SECONDS = 30
TICK_SECONDS = 2.0
POLL_SECONDS = 0.1
EXIT_GRACE_SECONDS = 30.0

Tick = Callable[[float], None]  # called every TICK_SECONDS with the seconds elapsed


@dataclass(frozen=True)
class ClaimTarget:
    """Where to POST claims, and which customers: `{campaign}-{i:07d}` for i in first..first+available-1."""

    url: str
    api_key: str
    campaign_id: int
    first: int
    available: int


@dataclass(frozen=True)
class LoadResult:
    """What one load run got back."""

    generator: str
    created: int  # answered 202
    replayed: int  # answered 200 (a replay: nothing created)
    failed: int  # any other status, or no answer
    seconds: float
    p50_ms: float
    p99_ms: float
    exhausted: bool  # the customers ran out before the time did: the rate is a lower bound

    @property
    def rate(self) -> float:
        """Claims created per second."""
        return self.created / self.seconds if self.seconds else 0.0


class LoadGenerator(ABC):
    """POSTs claims from `connections` keep-alive connections."""

    name = ""

    def __init__(self, connections: int) -> None:
        self.connections = connections

    @abstractmethod
    def run_for(self, target: ClaimTarget, seconds: float, tick: Tick) -> LoadResult:
        """Post new claims for `seconds`."""

    @abstractmethod
    def submit(
        self, target: ClaimTarget, created: Callable[[], int], timeout: float, tick: Tick
    ) -> LoadResult:
        """Post a claim for every customer of the target; `created()` counts those stored so far."""

    def describe(self) -> str:
        """How the load is generated, for the report."""
        return f"{self.name}, {self.connections} connections"


def load_generator(connections: int, *, prefer_wrk: bool, warn: Callable[[str], None]) -> LoadGenerator:
    """wrk when it is installed (and preferred), else the Python generator with a warning."""
    if prefer_wrk and shutil.which("wrk"):
        return WrkLoad(connections)
    if prefer_wrk:
        warn(
            "WARNING: wrk is not installed (apt-get install wrk, or scripts/setup.sh): using the Python "
            "load generator, which is slower and spends this machine's CPU; its figures are not "
            "comparable with wrk's"
        )
    return PythonLoad(connections)


class WrkLoad(LoadGenerator):
    """wrk with `claims.lua`: C sockets and a few Lua calls per request."""

    name = "wrk"

    def run_for(self, target: ClaimTarget, seconds: float, tick: Tick) -> LoadResult:
        """Post new claims for `seconds` (rounded up to whole seconds, as wrk takes them)."""
        process = self._start(target, math.ceil(seconds), stop_when_done=False)
        started = time.perf_counter()
        while process.poll() is None:
            _tick_wait(process, started, tick)
            if time.perf_counter() - started > seconds + EXIT_GRACE_SECONDS:
                process.kill()
                raise TimeoutError("wrk did not finish its run")
        return self._result(process, exhausted_if_replayed=True)

    def submit(
        self, target: ClaimTarget, created: Callable[[], int], timeout: float, tick: Tick
    ) -> LoadResult:
        """Post every customer's claim; wrk is interrupted once `created()` reaches them all."""
        process = self._start(target, math.ceil(timeout), stop_when_done=True)
        started = time.perf_counter()
        while process.poll() is None and created() < target.available:
            if time.perf_counter() - started > timeout:
                process.kill()
                raise TimeoutError(f"{target.available} claims not stored within {timeout:.0f} s")
            _tick_wait(process, started, tick, POLL_SECONDS)
        seconds = time.perf_counter() - started
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # wrk prints its summary, then exits
        result = self._result(process, exhausted_if_replayed=False)
        return replace(result, seconds=seconds)

    def _start(self, target: ClaimTarget, seconds: int, *, stop_when_done: bool) -> subprocess.Popen[str]:
        connections = max(1, min(self.connections, target.available))
        threads = min(WRK_THREADS, connections)
        command = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout",
            f"{REQUEST_TIMEOUT_SECONDS}s", "-s", str(LUA_SCRIPT), target.url, "--",
            str(target.campaign_id), str(target.first), str(target.available), str(threads),
            "1" if stop_when_done else "0", target.api_key,
        ]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def _result(self, process: subprocess.Popen[str], *, exhausted_if_replayed: bool) -> LoadResult:
        output, _ = process.communicate(timeout=EXIT_GRACE_SECONDS)
        lines = [line for line in output.splitlines() if line.startswith(RESULT_MARKER)]
        if not lines:
            raise RuntimeError(f"wrk printed no result (exit {process.returncode}):\n{output}")
        figures = json.loads(lines[-1].removeprefix(RESULT_MARKER))
        return LoadResult(
            generator=self.name,
            created=figures["created"],
            replayed=figures["replayed"],
            failed=figures["other"] + figures["socket_errors"],
            seconds=figures["duration_us"] / 1e6,
            p50_ms=figures["p50_us"] / 1000,
            p99_ms=figures["p99_us"] / 1000,
            exhausted=exhausted_if_replayed and figures["replayed"] > 0,
        )


class PythonLoad(LoadGenerator):
    """One thread and one keep-alive `requests.Session` per connection."""

    name = "Python threads"

    def run_for(self, target: ClaimTarget, seconds: float, tick: Tick) -> LoadResult:
        """Post new claims for `seconds`, or until the customers run out."""
        return self._drive(target, seconds, tick)

    def submit(
        self, target: ClaimTarget, created: Callable[[], int], timeout: float, tick: Tick
    ) -> LoadResult:
        """Post every customer's claim (each answer means it is stored)."""
        return self._drive(target, None, tick, timeout=timeout)

    def _drive(
        self, target: ClaimTarget, seconds: float | None, tick: Tick, *, timeout: float | None = None
    ) -> LoadResult:
        indexes, lock = itertools.count(), threading.Lock()
        statuses: Counter[int] = Counter()
        samples: list[float] = []
        started = time.perf_counter()
        ends_at = started + (seconds if seconds is not None else timeout or math.inf)

        def post_claims() -> None:
            session = requests.Session()
            session.trust_env = False  # no proxy lookup per request: it costs the client CPU
            session.headers["Authorization"] = f"Bearer {target.api_key}"
            while time.perf_counter() < ends_at:
                with lock:
                    index = next(indexes)
                if index >= target.available:
                    return
                customer = f"{target.campaign_id}-{target.first + index:07d}"
                sent = time.perf_counter()
                try:
                    status = session.post(
                        target.url,
                        json={"campaign_id": target.campaign_id, "customer_id": customer},
                        headers={"Idempotency-Key": customer},
                        timeout=REQUEST_TIMEOUT_SECONDS,
                    ).status_code
                except requests.RequestException:
                    status = 0
                with lock:
                    statuses[status] += 1
                    samples.append((time.perf_counter() - sent) * 1000)

        workers = [threading.Thread(target=post_claims, daemon=True) for _ in range(self.connections)]
        for worker in workers:
            worker.start()
        next_tick = started + TICK_SECONDS
        while any(worker.is_alive() for worker in workers):
            time.sleep(POLL_SECONDS)
            if time.perf_counter() >= next_tick:
                next_tick += TICK_SECONDS
                tick(time.perf_counter() - started)
        elapsed = time.perf_counter() - started
        if seconds is None and statuses[202] + statuses[200] < target.available:
            raise TimeoutError(f"{target.available} claims not answered within {timeout:.0f} s")
        ordered = sorted(samples) or [0.0]
        return LoadResult(
            generator=self.name,
            created=statuses[202],
            replayed=statuses[200],
            failed=sum(n for status, n in statuses.items() if status not in (200, 202)),
            seconds=elapsed,
            p50_ms=statistics.median(ordered),
            p99_ms=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            exhausted=seconds is not None and elapsed < seconds,
        )


def _tick_wait(
    process: subprocess.Popen[str], started: float, tick: Tick, wait: float = TICK_SECONDS
) -> None:
    """Wait up to `wait` for the process to end; tick every TICK_SECONDS of the run."""
    elapsed = time.perf_counter() - started
    next_tick = (math.floor(elapsed / TICK_SECONDS) + 1) * TICK_SECONDS
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=min(wait, max(0.01, next_tick - elapsed)))
    if time.perf_counter() - started >= next_tick:
        tick(time.perf_counter() - started)
