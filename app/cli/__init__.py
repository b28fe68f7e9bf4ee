"""The `promobridge` command line: one entry point for every process and operation.

Command modules import only click at the top; what a command needs (SQLAlchemy, Celery, Flask,
requests, the simulator, the benchmarks) is imported when that command runs, so `promobridge
--help` and a typo answer at once.
"""

from __future__ import annotations

from typing import Any

import click

from app.cli.bench import bench_group
from app.cli.campaigns import campaigns_group, operator_data_group
from app.cli.chaos import chaos_group
from app.cli.claims import claims_group, clients_group
from app.cli.control import pause_command, resume_command, rules_group
from app.cli.db import db_group
from app.cli.demo import demo_command
from app.cli.explain import explain_command
from app.cli.init import init_command
from app.cli.policies import policies_group
from app.cli.processes import beat_command, flower_command, relay_command, web_command, worker_command
from app.cli.reconcile import reconcile_command
from app.cli.register import register_command
from app.cli.run import run_command
from app.cli.users import users_group
from app.errors import ConfigurationError
from simulator.cli import simulator_command

BAD_CONFIGURATION_EXIT_CODE = 2


class ConfigurationRefused(click.ClickException):
    """A command stopped on a configuration it cannot use; its message says what to change."""

    exit_code = BAD_CONFIGURATION_EXIT_CODE


class PromobridgeGroup(click.Group):
    """The root group: a configuration error ends any command with its message, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise ConfigurationRefused(str(exc)) from exc


@click.group(cls=PromobridgeGroup)
@click.option("--log-level", default=None, help="Default: LOG_LEVEL (INFO).")
def main(log_level: str | None) -> None:
    """promobridge: the operator's side of Optimove OptiPromo's Advanced Activation Flow."""
    from app.config import process_settings
    from app.observability.logging import configure_logging

    try:
        settings = process_settings()
    except ConfigurationError:
        # Commands that read the settings report the problem; the others (simulator, --help) go on.
        configure_logging(log_level or "INFO", json=True)
        return
    configure_logging(log_level or settings.log_level, json=settings.log_json)


main.add_command(init_command)
main.add_command(demo_command)
main.add_command(db_group)
main.add_command(campaigns_group)
main.add_command(operator_data_group)
main.add_command(register_command)
main.add_command(web_command)
main.add_command(worker_command)
main.add_command(relay_command)
main.add_command(beat_command)
main.add_command(flower_command)
main.add_command(run_command)
main.add_command(simulator_command)
main.add_command(bench_group)
main.add_command(chaos_group)
main.add_command(clients_group)
main.add_command(explain_command)
main.add_command(claims_group)
main.add_command(users_group)
main.add_command(reconcile_command)
main.add_command(policies_group)
main.add_command(pause_command)
main.add_command(resume_command)
main.add_command(rules_group)
