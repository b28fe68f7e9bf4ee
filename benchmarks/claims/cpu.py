"""CPU of every process group of the benchmark, sampled from /proc (psutil) every half second.

A group is a set of processes found again at every sample (pool children and database backends
come and go): its CPU is the sum of its processes' user + system time over the interval, in percent
of one core, so a 2-core machine tops out at 200 %. Every other process on the machine is sampled
too, as "other processes" (the other sessions sharing it). The machine's total comes from the
kernel's counters; what no process is charged with (network softirqs of the loopback traffic
between the benchmark's processes, the kernel's own threads, processes that lived less than a
sample) is shown as "kernel, not charged to a process": on an otherwise idle 2-core machine it
was about a sixth of the machine during a burst.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

SAMPLE_SECONDS = 0.5
MACHINE = "machine (all processes)"
OTHERS = "other processes"
KERNEL = "kernel, not charged to a process"
SATURATED_SHARE = 0.9  # a machine busy this share of its cores is saturated ...
OURS_SHARE = 0.8  # ... by the benchmark when other processes leave it this share

Groups = Callable[[], dict[str, list[psutil.Process]]]


@dataclass(frozen=True)
class CpuReport:
    """Mean and peak CPU per group over one run, in % of one core."""

    seconds: float
    cores: int
    mean: dict[str, float]
    peak: dict[str, float]

    @property
    def machine(self) -> float:
        """Mean CPU of the whole machine."""
        return self.mean.get(MACHINE, 0.0)

    @property
    def ours(self) -> float:
        """Mean CPU of the machine less the other processes': the benchmark's groups and the kernel's
        work no process is charged with (mostly their own loopback traffic, on an idle machine)."""
        return self.machine - self.mean.get(OTHERS, 0.0)

    @property
    def saturated(self) -> bool:
        """Whether the cores were busy (SATURATED_SHARE of them, on average), mostly for the benchmark
        (OURS_SHARE): a machine saturated by other sessions says nothing about promobridge."""
        capacity = 100 * self.cores
        return self.machine >= SATURATED_SHARE * capacity and self.ours >= OURS_SHARE * capacity

    def busiest(self, count: int = 3) -> list[tuple[str, float]]:
        """The groups that used the most CPU (the machine's total left out), busiest first."""
        groups = [(name, pct) for name, pct in self.mean.items() if name not in (MACHINE, KERNEL)]
        return sorted(groups, key=lambda item: item[1], reverse=True)[:count]


@dataclass
class _Tracked:
    process: psutil.Process
    last: float


@dataclass
class CpuSampler:
    """Samples `groups()` every SAMPLE_SECONDS from a thread, between `with` entry and exit."""

    groups: Groups
    interval: float = SAMPLE_SECONDS
    _tracked: dict[int, _Tracked] = field(default_factory=dict)
    _totals: dict[str, float] = field(default_factory=dict)
    _peaks: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _started: float = 0.0
    _machine_last: float = 0.0
    _sampled_at: float = 0.0
    _thread: threading.Thread | None = None

    def __enter__(self) -> CpuSampler:
        self._sample(first=True)
        self._started = self._sampled_at
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample()

    def report(self) -> CpuReport:
        """Mean (CPU seconds ÷ run seconds) and peak (busiest interval) per group."""
        seconds = max(self._sampled_at - self._started, 1e-9)
        mean = {name: 100 * total / seconds for name, total in self._totals.items()}
        charged = sum(pct for name, pct in mean.items() if name != MACHINE)
        mean[KERNEL] = max(0.0, mean.get(MACHINE, 0.0) - charged)
        return CpuReport(seconds, psutil.cpu_count() or 1, mean, dict(self._peaks))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, *, first: bool = False) -> None:
        used: dict[str, float] = {}
        ours: set[int] = set()
        for name, processes in self.groups().items():
            used[name] = sum(self._delta(process, first) for process in processes)
            ours.update(process.pid for process in processes)
        used[OTHERS] = sum(self._delta(p, first) for p in psutil.process_iter() if p.pid not in ours)
        # The interval is the one the machine's counters cover; finding the processes takes time too.
        machine, now = _machine_busy(), time.monotonic()
        used[MACHINE], self._machine_last = machine - self._machine_last, machine
        interval, self._sampled_at = now - self._sampled_at, now
        if first:
            return
        for name, seconds in used.items():
            self._totals[name] = self._totals.get(name, 0.0) + seconds
            self._peaks[name] = max(self._peaks.get(name, 0.0), 100 * seconds / max(interval, 1e-9))

    def _delta(self, process: psutil.Process, first: bool) -> float:
        try:
            times = process.cpu_times()
            total = times.user + times.system
            tracked = self._tracked.get(process.pid)
            if tracked is None:  # new: count it from now, or from its start if it began during the run
                born_during_run = not first and process.create_time() >= time.time() - self._age()
                self._tracked[process.pid] = _Tracked(process, total)
                return total if born_during_run else 0.0
            delta, tracked.last = total - tracked.last, total
            return max(0.0, delta)
        except psutil.Error:
            return 0.0

    def _age(self) -> float:
        return time.monotonic() - self._started


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def with_children(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (an empty list once it is gone)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return []


def matching(predicate: Callable[[str, str], bool]) -> list[psutil.Process]:
    """Processes whose (name, command line) satisfy `predicate`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        name = process.info["name"] or ""
        cmdline = " ".join(process.info["cmdline"] or [])
        if predicate(name, cmdline):
            found.append(process)
    return found
