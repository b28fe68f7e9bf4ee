"""`promobridge demo`: the whole flow on embedded defaults, with live progress and a final report."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from app.demo.report import DemoReport
    from app.demo.runner import ConsoleAccess, Progress

BAR_WIDTH = 30
PLAIN_REFRESH_SECONDS = 2.0


class ProgressView:
    """Bars redrawn in place on a terminal; a line every few seconds otherwise (logs, CI)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.drawn = 0
        self.last_plain = 0.0

    def show(self, stages: list[Progress]) -> None:
        lines = [self._bar(stage) for stage in stages]
        if self.tty:
            if self.drawn:
                sys.stderr.write(f"\x1b[{self.drawn}F")
            sys.stderr.write("".join(f"\x1b[2K{line}\n" for line in lines))
            sys.stderr.flush()
            self.drawn = len(lines)
        elif time.monotonic() - self.last_plain >= PLAIN_REFRESH_SECONDS:
            self.last_plain = time.monotonic()
            click.echo(" | ".join(f"{s.stage} {s.done}/{s.total or '?'}" for s in stages), err=True)

    def say(self, line: str) -> None:
        self.drawn = 0
        click.echo(line, err=True)

    @staticmethod
    def _bar(stage: Progress) -> str:
        fraction = min(1.0, stage.done / stage.total) if stage.total else 0.0
        filled = int(fraction * BAR_WIDTH)
        bar = "█" * filled + "·" * (BAR_WIDTH - filled)
        note = f"  {stage.note}" if stage.note else ""
        return f"{stage.stage:<18} [{bar}] {stage.done:>6}/{stage.total or '?':<6}{note}"


@click.command("demo")
@click.option(
    "--customers",
    default=3000,
    show_default=True,
    type=click.IntRange(10, 1_000_000),
    help="Size of the scheduled campaign.",
)
@click.option(
    "--claims",
    "claim_count",
    default=400,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many simulated customers click 'Claim Reward'.",
)
@click.option(
    "--database-url", help="Run on this database (e.g. PostgreSQL) instead of a temporary SQLite file."
)
@click.option(
    "--broker-url", help="Run on this broker (e.g. redis://127.0.0.1:6379/5) instead of the file-system one."
)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--log-dir", type=click.Path(file_okay=False, path_type=Path), help="Keep the processes' logs here."
)
@click.option(
    "--keep",
    is_flag=True,
    help="Leave everything running after the report and print the campaign console's URL and a "
    "demo sign-in, until Ctrl-C.",
)
def demo_command(
    customers: int,
    claim_count: int,
    database_url: str | None,
    broker_url: str | None,
    seed: int,
    log_dir: Path | None,
    keep: bool,
) -> None:
    """Run the whole flow on this machine: webhook, ingest, claims, rewards, status updates, report."""
    if claim_count > customers:
        raise click.BadParameter("cannot exceed --customers", param_hint="--claims")
    from app.config import normalize_database_url
    from app.demo.runner import DemoConfig, DemoUi, run_demo

    if database_url:
        try:
            database_url = normalize_database_url(database_url)
        except ValueError as exc:
            raise click.BadParameter(f"the URL {exc}", param_hint="--database-url") from None

    view = ProgressView()
    config = DemoConfig(
        customers=customers,
        claims=claim_count,
        database_url=database_url,
        broker_url=broker_url,
        seed=seed,
        log_dir=log_dir,
    )
    from app.processes import CommandFailed, TimedOut

    try:
        report = run_demo(
            config, DemoUi(show=view.show, say=view.say), while_running=_show_and_wait if keep else None
        )
    except (TimedOut, CommandFailed) as exc:  # the processes' logs were shown just before
        raise click.ClickException(f"the demo did not finish: {exc}") from exc
    if not keep:
        click.echo(report.render())
    if not report.every_reward_once_and_reported_once:
        raise SystemExit(1)


def _stop_waiting(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _show_and_wait(report: DemoReport, console: ConsoleAccess) -> None:
    """Print the report and the console's sign-in, then keep everything running until Ctrl-C."""
    click.echo(report.render())
    click.echo("")
    click.echo(f"campaign console: {console.url}")
    click.echo(f"  sign in as {console.user!r} with password {console.password!r} (shown this once)")
    click.echo("everything keeps running; press Ctrl-C to stop it", err=True)
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _stop_waiting)  # a plain `kill` stops the processes too
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopping", err=True)
