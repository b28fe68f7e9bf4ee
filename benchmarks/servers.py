"""What a fault-injection run owns and crashes: private PostgreSQL and Redis servers, and the nemesis.

The machine's shared servers (5432, 6379) serve every other test running at the same time, so a
run that kills its database or broker must own them: each server class here creates a fresh data
directory, starts its server on a free loopback port, and removes everything on exit. PostgreSQL
refuses to run as root, so when we are root its commands run as the `postgres` user (`runuser`).
The nemesis crashes these servers and the run's own processes, and only those.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import psutil
import redis

from app.clock import utcnow
from benchmarks.stack import ProcessGroup, free_port, wait_until

POSTGRES_BINDIR = Path(os.environ.get("CHAOS_POSTGRES_BINDIR", "/usr/lib/postgresql/15/bin"))
POSTGRES_OS_USER = "postgres"
PG_CTL_TIMEOUT_SECONDS = 60
REDIS_START_TIMEOUT_SECONDS = 30.0
REDIS_STOP_TIMEOUT_SECONDS = 10.0
POOL_WAIT_SECONDS = 30.0
POOL_SETTLE_SECONDS = 5.0
KINDS = ("worker_kill", "worker_restart", "redis_restart", "postgres_restart")
# Told of each worker SIGKILL: what was killed, seconds into the run, and the wall-clock instant.
OnKill = Callable[[str, float, datetime], None]


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust auth, fsync on) on 127.0.0.1 and a free port."""

    def __init__(self, *, port: int | None = None, bindir: Path = POSTGRES_BINDIR) -> None:
        self.port = port or free_port()
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="promobridge-pg-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for `database` on this server."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            command = ["runuser", "-u", POSTGRES_OS_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, timeout=PG_CTL_TIMEOUT_SECONDS + 10, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"{program} {' '.join(args)} failed ({result.returncode}):\n{output}")

    def initialise(self) -> None:
        """Create the cluster (owned by the postgres user when we are root)."""
        if os.geteuid() == 0:
            shutil.chown(self.root, user=POSTGRES_OS_USER)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300"
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options,
            "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode `immediate` is a crash (no checkpoint, recovery on the next start)."""
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "stop"
        )

    def restart(self, pause_seconds: float = 2.0, *, crash: bool = True) -> None:
        """Stop (crash by default), stay down for `pause_seconds`, start again."""
        self.stop("immediate" if crash else "fast")
        time.sleep(pause_seconds)
        self.start()

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.initialise()
            self.start()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server on 127.0.0.1 and a free port with AOF `appendfsync always` and no RDB snapshots."""

    def __init__(self, *, port: int | None = None, binary: str = "redis-server") -> None:
        self.port = port or free_port()
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="promobridge-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """A redis:// URL for database `db` on this server."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Start the server (same data directory, so the AOF is replayed) and wait for PING."""
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.root),
            "--daemonize", "no", "--logfile", str(self.root / "redis.log"),
        ]  # fmt: skip
        process = self.process = subprocess.Popen(command, start_new_session=True)
        client = redis.Redis.from_url(self.url(), socket_timeout=1)

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}; see {self.root}")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(answers, timeout=REDIS_START_TIMEOUT_SECONDS, what="the private Redis")
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the server (SIGKILL is a crash; the AOF keeps every acknowledged write) and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=REDIS_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self, pause_seconds: float = 2.0, *, crash: bool = True) -> None:
        """Stop (SIGKILL by default), stay down for `pause_seconds`, start again."""
        self.stop(signal.SIGKILL if crash else signal.SIGTERM)
        time.sleep(pause_seconds)
        self.start()

    def unacked_messages(self) -> int:
        """Messages kombu holds as delivered but unacknowledged (they return after the visibility timeout)."""
        with redis.Redis.from_url(self.url()) as client:
            return int(client.hlen("unacked"))

    def __enter__(self) -> PrivateRedis:
        try:
            self.start()
        except BaseException:
            self.stop(signal.SIGKILL)
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Nemesis:
    """Injects a seeded schedule of crashes from one thread, signalling only what the run started:
    `worker_kill` (SIGKILL a pool child: a psutil child of a worker's main pid), `worker_restart` (SIGKILL
    a worker's process group, start it again after the pause), `redis_restart` (SIGKILL, pause, start),
    `postgres_restart` (`pg_ctl -m immediate stop`, pause, start). `revive_crashed` is the run's process
    manager: it restarts what died on its own (not a worker being restarted) and says so: a finding.
    `on_kill` is told of each worker SIGKILL as it happens (the kill → moving delay is timed from it);
    `injected` counts the faults really injected, by kind."""

    def __init__(
        self,
        counts: object,
        seed: int,
        pause_seconds: float,
        group: ProcessGroup,
        commands: Mapping[str, Sequence[str]],
        postgres: PrivatePostgres,
        broker: PrivateRedis,
        say: Callable[[str], None],
        *,
        on_kill: OnKill | None = None,
    ) -> None:
        """`counts` has an int attribute per kind and plural (`worker_kills`, ... `postgres_restarts`)."""
        self.rng = random.Random(seed)
        self.kinds = [kind for kind in KINDS for _ in range(int(getattr(counts, f"{kind}s")))]
        self.rng.shuffle(self.kinds)
        self.schedule: list[tuple[float, str]] = []
        self.pause_seconds, self.group, self.commands = pause_seconds, group, commands
        self.postgres, self.broker, self.say = postgres, broker, say
        self.workers = sorted(name for name in commands if name.startswith("worker"))
        self.log: list[str] = []
        self.injected: Counter[str] = Counter()
        self.on_kill = on_kill
        self._lock = threading.Lock()
        self._restarting: set[str] = set()
        self._begun = 0.0
        self.thread = threading.Thread(target=self._run, name="nemesis", daemon=True)

    def schedule_over(self, duration: float) -> None:
        """Spread the faults evenly over `duration` seconds, each jittered by up to a fifth of the gap."""
        gap = duration / (len(self.kinds) + 1)
        self.schedule = [(gap * (i + 1 + self.rng.uniform(-0.2, 0.2)), k) for i, k in enumerate(self.kinds)]

    def start(self, begun: float) -> None:
        """Start injecting; schedule times count from the monotonic instant `begun`."""
        self._begun = begun
        self.thread.start()

    def _elapsed(self) -> float:
        return time.monotonic() - self._begun

    def _note(self, what: str) -> None:
        line = f"t={self._elapsed():5.1f}s nemesis: {what}"
        self.log.append(line)
        self.say(line)

    def _killed(self, what: str, at: float, killed_at: datetime) -> None:
        if self.on_kill is not None:
            self.on_kill(what, at, killed_at)

    def _run(self) -> None:
        for at, kind in self.schedule:
            time.sleep(max(0.0, self._begun + at - time.monotonic()))
            try:
                getattr(self, f"_{kind}")()
                self.injected[kind] += 1
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                self._note(f"{kind} could not be injected: {exc!r}")

    def _worker_kill(self) -> None:
        # Only a settled pool: Celery gives up ("Could not start worker processes") if a child dies while
        # the pool starts, which a worker the nemesis or a crash just restarted may still be doing.
        deadline = time.monotonic() + POOL_WAIT_SECONDS
        while not (pools := self._settled_pool_children()) and time.monotonic() < deadline:
            time.sleep(0.5)
        name, victim = self.rng.choice(pools)
        os.kill(victim.pid, signal.SIGKILL)
        at, killed_at = self._elapsed(), utcnow()  # a SIGKILLed process runs no more code
        what = f"SIGKILL pool child {victim.pid} of {name}"
        self._note(what)
        self._killed(what, at, killed_at)

    def _settled_pool_children(self) -> list[tuple[str, psutil.Process]]:
        settled_before = time.time() - POOL_SETTLE_SECONDS
        with contextlib.suppress(psutil.Error):
            return [
                (name, child)
                for name in self.workers
                for child in psutil.Process(self.group.processes[name].pid).children()
                if child.create_time() < settled_before
            ]
        return []

    def _worker_restart(self) -> None:
        name = self.rng.choice(self.workers)
        with self._lock:
            self._restarting.add(name)
        try:
            pid = self.group.processes[name].pid
            self.group.kill(name, signal.SIGKILL)  # and reaped: milliseconds
            # Timed once the victims are dead, as for a pool child: none of their writes comes after.
            at, killed_at = self._elapsed(), utcnow()
            what = f"SIGKILL whole worker {name} (process group {pid})"
            self._note(what)
            self._killed(what, at, killed_at)
            time.sleep(self.pause_seconds)
            restarted = self.group.start(name, self.commands[name])
            self._note(f"{name} started again as pid {restarted.pid}")
        finally:
            with self._lock:
                self._restarting.discard(name)

    def _redis_restart(self) -> None:
        self._note("Redis SIGKILLed")
        self.broker.restart(self.pause_seconds)
        self._note("Redis started again")

    def _postgres_restart(self) -> None:
        self._note("PostgreSQL stopped with -m immediate")
        self.postgres.restart(self.pause_seconds)
        self._note("PostgreSQL started again")

    def revive_crashed(self) -> list[str]:
        """Restart every process that exited on its own; returns what died, with its exit code."""
        died = []
        with self._lock:
            for name, process in list(self.group.processes.items()):
                if name in self._restarting or process.poll() is None:
                    continue
                died.append(f"{name} exited with {process.returncode}")
                self._note(f"{name} died on its own (exit {process.returncode}); restarting it")
                self.group.start(name, self.commands[name])
        return died
