"""`promobridge run`: web, workers, relay, beat (and Flower when installed) as one supervised command.

It starts the same `promobridge …` commands the Procfile lists, restarts any that exits, and stops
them all on Ctrl-C or SIGTERM. It uses the configured servers, or the embedded defaults.
"""

from __future__ import annotations

import importlib.util
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click

from app.cli._shared import settings_checked_for

RESTART_BACKOFF_SECONDS = 2.0


def run_processes(
    commands: dict[str, list[str]], log_dir: Path, *, once: threading.Event | None = None
) -> None:
    """Start the commands and keep them running until stopped."""
    from app.processes import ProcessGroup

    group = ProcessGroup({}, log_dir)
    stop = once or threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        group.run("db", "upgrade")
        for name, args in commands.items():
            group.start(name, args)
            click.echo(f"started {name}: promobridge {' '.join(args)}  (log: {log_dir / (name + '.log')})")
        while not stop.wait(1.0):
            for name, args in commands.items():
                code = group.processes[name].poll()
                if code is not None:
                    click.echo(
                        f"{name} exited with {code}; restarting in {RESTART_BACKOFF_SECONDS:g} s", err=True
                    )
                    time.sleep(RESTART_BACKOFF_SECONDS)
                    group.start(name, args)
    finally:
        click.echo("stopping every process …", err=True)
        group.stop_all()


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    "worker_pools",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Worker processes (each a prefork pool of --concurrency).",
)
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64))
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
    """Run web, workers, relay and beat (and Flower) together, restarting any that dies."""
    settings = settings_checked_for("run")  # refused once here, not by every child in a restart loop
    redis_broker = settings.resolved_broker_url.startswith(("redis://", "rediss://"))
    if flower is None:
        flower = redis_broker and importlib.util.find_spec("flower") is not None
    commands: dict[str, list[str]] = {"web": ["web", "--host", host, "--port", str(port)]}
    for index in range(worker_pools):
        commands[f"worker-{index + 1}"] = [
            "worker",
            "--concurrency",
            str(concurrency),
            "-n",
            f"worker{index + 1}@%h",
        ]
    commands["relay"] = ["relay"]
    commands["beat"] = ["beat"]
    if flower:
        commands["flower"] = ["flower", "--port", str(flower_port)]
    directory = log_dir or settings.data_dir / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    run_processes(commands, directory)
