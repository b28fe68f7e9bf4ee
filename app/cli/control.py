"""`promobridge pause|resume` and `promobridge rules`: operator control at run time.

Every process reads the pause and the rules from the database per batch: a change here takes
effect everywhere within seconds, with no restart.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import click

from app.cli._shared import container

if TYPE_CHECKING:
    from app.domain.safeguards import ServiceSwitch, SettingsRule

NONE_WORDS = frozenset({"none", "-"})


class Limit(click.ParamType[Any]):
    """A whole number from 0, or `none` (clear: fall back to the rule or the environment)."""

    name = "N|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number, or None for `none`."""
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip()
        if text.lower() in NONE_WORDS:
            return None
        if not text.isdigit() or int(text) >= 2**63:
            self.fail(f"{value!r} is not a whole number from 0 to 2^63-1, nor 'none'", param, ctx)
        return int(text)


class Amount(click.ParamType[Any]):
    """A decimal amount from 0, or `none`."""

    name = "X|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The amount, or None for `none`."""
        if value is None or isinstance(value, Decimal):
            return value
        text = str(value).strip()
        if text.lower() in NONE_WORDS:
            return None
        try:
            amount = Decimal(text)
        except InvalidOperation:
            self.fail(f"{value!r} is not an amount, nor 'none'", param, ctx)
        if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 14:
            self.fail(f"{value!r} is not an amount from 0 to 10^14", param, ctx)
        return amount


LIMIT, AMOUNT = Limit(), Amount()


@click.command("pause")
@click.option("--reason", help="Why (shown by `promobridge resume`, the API and the campaign reports).")
def pause_command(reason: str | None) -> None:
    """Stop new validations, activations and auto approvals everywhere (webhooks and claims are still
    taken; statuses of rewards already granted still go)."""
    from app.services.operator_control import pause

    switch, changed = pause(container().uow, by="cli", reason=reason)
    click.echo(("paused" if changed else "already paused") + _since(switch))


@click.command("resume")
def resume_command() -> None:
    """Lift the pause and wake every claim that waited."""
    from app.services.operator_control import resume

    c = container()
    _switch, changed = resume(c.uow, c.validation_doorbell, by="cli")
    click.echo("resumed" if changed else "not paused")


def _since(switch: ServiceSwitch) -> str:
    at = switch.at.isoformat() if switch.at else "-"
    return f" (since {at} by {switch.by or '-'}{': ' + switch.reason if switch.reason else ''})"


@click.group("rules")
def rules_group() -> None:
    """Campaign settings by promo code pattern (between a campaign's own settings and the environment)."""


@rules_group.command("set")
@click.argument("pattern")
@click.option("--priority", type=click.IntRange(-(2**31), 2**31 - 1), default=0, show_default=True,
              help="The highest priority matching rule wins; then the most specific pattern.")  # fmt: skip
@click.option("--mode", type=click.Choice(["claim", "auto"]), default=None)
@click.option("--max-audience", type=LIMIT, default=None)
@click.option("--max-rewards", type=LIMIT, default=None)
@click.option("--max-reward-amount", type=AMOUNT, default=None)
@click.option("--notes")
def set_rule_command(
    pattern: str,
    priority: int,
    mode: str | None,
    max_audience: int | None,
    max_rewards: int | None,
    max_reward_amount: Decimal | None,
    notes: str | None,
) -> None:
    """Create or replace the rule of PATTERN (shell-style: WELCOME*, VIP-?, [AB]-*)."""
    from app.services.campaign_settings import RuleChange, SettingsRefused, set_rule

    change = RuleChange(pattern, priority, mode, max_audience, max_rewards, max_reward_amount, notes)
    try:
        rule = set_rule(container().uow, change, updated_by="cli")
    except SettingsRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(render_rule(rule))


@rules_group.command("list")
def list_rules_command() -> None:
    """Every rule, by pattern."""
    from app.services.campaign_settings import list_rules

    rules = list_rules(container().uow)
    if not rules:
        click.echo("no rules")
    for rule in rules:
        click.echo(render_rule(rule))


@rules_group.command("delete")
@click.argument("pattern")
def delete_rule_command(pattern: str) -> None:
    """Remove the rule of PATTERN."""
    from app.services.campaign_settings import delete_rule

    if not delete_rule(container().uow, pattern, updated_by="cli"):
        raise click.ClickException(f"no rule has the pattern {pattern!r}")
    click.echo(f"rule {pattern} deleted")


def render_rule(rule: SettingsRule) -> str:
    """One line per rule."""
    limits = rule.safeguards
    return (
        f"{rule.pattern}  priority={rule.priority} mode={rule.mode or '-'} "
        f"max_audience={_or_dash(limits.max_audience)} max_rewards={_or_dash(limits.max_rewards)} "
        f"max_reward_amount={_or_dash(limits.max_reward_amount)} notes={rule.notes or '-'}"
    )


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)
