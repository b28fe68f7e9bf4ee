"""`promobridge run`: every process of the Procfile as one supervised command, on this machine.

The process list is the Procfile's (the one list platforms and docker-compose follow too): its
`release` step runs first, then web, the workers, relay, beat and Flower start, each restarted if
it exits, all stopped on Ctrl-C or SIGTERM. It uses the configured servers, or the embedded
defaults.
"""

from __future__ import annotations

import importlib.util
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import click

from app.cli._shared import settings_checked_for
from app.procfile import DEFAULT_WORKER_CONCURRENCY

RESTART_BACKOFF_SECONDS = 2.0
WORKER = "worker"
FLOWER = "flower"


@dataclass(frozen=True, slots=True)
class PlannedProcess:
    """One process to keep running: its Procfile command line and what this run sets for it."""

    name: str
    command_line: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `promobridge run`'s options ask of the Procfile's processes."""

    host: str = "127.0.0.1"
    port: int = 8000
    worker_pools: int = 1
    concurrency: int = DEFAULT_WORKER_CONCURRENCY
    flower: bool = False
    flower_port: int = 5555


def plan(procfile: dict[str, str], options: RunOptions) -> tuple[str | None, list[PlannedProcess]]:
    """The release command (or None) and the processes to run, from the Procfile's `name: command`."""
    from app.procfile import RELEASE

    planned: list[PlannedProcess] = []
    for name, command in procfile.items():
        if name == RELEASE or (name == FLOWER and not options.flower):
            continue
        if name == WORKER:
            for index in range(1, options.worker_pools + 1):
                planned.append(
                    PlannedProcess(
                        f"{WORKER}-{index}",
                        f"{command} -n {shlex.quote(f'{WORKER}{index}@%h')}",
                        {"WORKER_CONCURRENCY": str(options.concurrency)},
                    )
                )
            continue
        port = options.flower_port if name == FLOWER else options.port
        planned.append(PlannedProcess(name, command, {"HOST": options.host, "PORT": str(port)}))
    return procfile.get(RELEASE), planned


def run_processes(
    release: str | None,
    processes: list[PlannedProcess],
    log_dir: Path,
    *,
    once: threading.Event | None = None,
) -> None:
    """Run the release step, start the processes and keep them running until stopped."""
    from app.processes import ProcessGroup

    group = ProcessGroup({}, log_dir)
    stop = once or threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if release is not None:
            click.echo(f"release: {release}")
            if group.start_command_line("release", release).wait() != 0:
                raise click.ClickException(f"the release step failed; see {log_dir / 'release.log'}")
            del group.processes["release"]
        for process in processes:
            group.start_command_line(process.name, process.command_line, process.env)
            click.echo(f"started {process.name}: {process.command_line}  (log: {log_dir / process.name}.log)")
        while not stop.wait(1.0):
            for process in processes:
                code = group.processes[process.name].poll()
                if code is not None:
                    click.echo(
                        f"{process.name} exited with {code}; restarting in {RESTART_BACKOFF_SECONDS:g} s",
                        err=True,
                    )
                    time.sleep(RESTART_BACKOFF_SECONDS)
                    group.start_command_line(process.name, process.command_line, process.env)
    except subprocess.SubprocessError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        click.echo("stopping every process …", err=True)
        group.stop_all()


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface web and Flower listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    "worker_pools",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Worker processes (each a prefork pool of --concurrency).",
)
@click.option(
    "--concurrency", default=DEFAULT_WORKER_CONCURRENCY, show_default=True, type=click.IntRange(1, 64)
)
@click.option(
    "--flower/--no-flower", default=None, help="Default: on when Flower is installed and the broker is Redis."
)
@click.option("--flower-port", default=5555, show_default=True, type=int)
@click.option(
    "--log-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Default: PROMOBRIDGE_DATA_DIR/logs.",
)
def run_command(
    host: str,
    port: int,
    worker_pools: int,
    concurrency: int,
    flower: bool | None,
    flower_port: int,
    log_dir: Path | None,
) -> None:
    """Run the Procfile's processes together (web, workers, relay, beat, Flower), restarting any that dies."""
    from app.procfile import ProcfileError, load_procfile

    settings = settings_checked_for("run")  # refused once here, not by every child in a restart loop
    redis_broker = settings.resolved_broker_url.startswith(("redis://", "rediss://"))
    if flower is None:
        flower = redis_broker and importlib.util.find_spec("flower") is not None
    try:
        procfile = {name: process.command for name, process in load_procfile().items()}
    except ProcfileError as exc:
        raise click.ClickException(str(exc)) from exc
    options = RunOptions(host, port, worker_pools, concurrency, flower, flower_port)
    release, processes = plan(procfile, options)
    directory = log_dir or settings.data_dir / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    run_processes(release, processes, directory)
