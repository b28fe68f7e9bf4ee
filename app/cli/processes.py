"""Commands that start the long-running processes: web, worker, relay, simulator.

The worker and relay run from `workers/`, which `app/` never imports: they are started as
programs (exec), exactly as the Procfile and docker-compose start them. Each command checks the
secrets before it execs, so a refusal is one clear message and exit code 2; the programs check
again themselves (create_app, the worker_init and beat_init signals, the relay's main) for when
they are started without this command.
"""

from __future__ import annotations

import os
import sys

import click

from app.cli._shared import settings_checked_for
from app.procfile import DEFAULT_WORKER_CONCURRENCY


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", type=click.IntRange(min=1), help="gunicorn worker processes [default: WEB_CONCURRENCY]"
)
@click.option("--dev", is_flag=True, help="Use Werkzeug's threaded server instead of gunicorn.")
def web_command(host: str, port: int, workers: int | None, dev: bool) -> None:
    """Serve the webhook listener and the API (gunicorn, configured in app.observability.gunicorn_conf)."""
    settings_checked_for("web")
    if dev:
        from werkzeug.serving import run_simple

        from app.web import create_app

        run_simple(host, port, create_app(), threaded=True)
        return
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{host}:{port}",
            *(["--workers", str(workers)] if workers is not None else []),
            "--access-logfile",
            "-",
            "--config",
            "python:app.observability.gunicorn_conf",
            "app.web:create_app()",
        ],
    )


@click.command("worker", context_settings={"ignore_unknown_options": True})
@click.option("--queues", "-Q", default="ingest,claims,validate,activate,status,default", show_default=True)
@click.option("--concurrency", "-c", default=DEFAULT_WORKER_CONCURRENCY, show_default=True, type=int)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(queues: str, concurrency: int, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker pool on the given queues (extra arguments go to `celery worker`)."""
    settings_checked_for("worker")
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "--loglevel",
            "INFO",
            *celery_args,
        ],
    )


@click.command("relay")
def relay_command() -> None:
    """Run the relay: inbox dispatch, sweepers and the outbox relay to Optimove."""
    settings_checked_for("relay")
    os.execvp(sys.executable, [sys.executable, "-m", "workers.relay"])


@click.command("beat")
def beat_command() -> None:
    """Run Celery beat (exactly one per deployment): schedules the maintenance sweep."""
    settings_checked_for("beat").data_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule there
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO"],
    )


@click.command("flower", context_settings={"ignore_unknown_options": True})
@click.option("--port", default=5555, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True)
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
def flower_command(port: int, address: str, flower_args: tuple[str, ...]) -> None:
    """Run Flower against the workers; basic auth from FLOWER_BASIC_AUTH (user:password[,user2:pw2]).

    On an address other than 127.0.0.1 it refuses to start without a strong FLOWER_BASIC_AUTH.
    """
    auth = settings_checked_for("flower", flower_address=address).flower_basic_auth
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "flower",
        f"--port={port}",
        f"--address={address}",
        "--purge_offline_workers=60",
    ]
    if auth:
        args.append(f"--basic-auth={auth}")
    os.execvp(sys.executable, [*args, *flower_args])
