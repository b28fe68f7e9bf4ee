"""`promobridge reconcile CAMPAIGN_ID`: does what the campaign granted match what it reported?"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING

import click

from app.cli._shared import container

if TYPE_CHECKING:
    from app.services.reconciliation import Finding, ReconciliationReport

NO_DISCREPANCY_EXIT_CODE = 0
DISCREPANCIES_LEFT_EXIT_CODE = 1
UNKNOWN_CAMPAIGN_EXIT_CODE = 2


class UnknownCampaign(click.ClickException):
    """The campaign id names no campaign promobridge knows."""

    exit_code = UNKNOWN_CAMPAIGN_EXIT_CODE


@click.command("reconcile")
@click.argument("campaign_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--fix",
    is_flag=True,
    help="Repair what is safe: queue missing or dead statuses of rewarded customers, replay failed "
    "claims, dispatch stuck ones again. Nothing that could pay twice.",
)
@click.option(
    "--examples",
    type=click.IntRange(0, 1000),
    default=5,
    show_default=True,
    help="Ids shown per discrepancy.",
)
@click.pass_context
def reconcile_command(ctx: click.Context, campaign_id: int, as_json: bool, fix: bool, examples: int) -> None:
    """Compare a campaign's rewards, claims and statuses sent to Optimove; exit 1 if anything is off.

    Exit code: 0 when no discrepancy is left, 1 when some are, 2 for an unknown campaign.
    """
    from datetime import timedelta

    from app.services.reconciliation import ReconcileConfig, reconcile_campaign, repair_campaign

    c = container()
    config = ReconcileConfig(
        late_after=timedelta(seconds=c.settings.reconcile_status_late_after_seconds),
        stale_after=timedelta(seconds=c.settings.claim_stale_after_seconds),
        examples=examples,
    )
    if fix:
        report = repair_campaign(c.uow, c.validation_doorbell, campaign_id, config)
    else:
        report = reconcile_campaign(c.uow, campaign_id, config)
    if report is None:
        raise UnknownCampaign(f"campaign {campaign_id} is unknown")
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else render_reconciliation(report))
    ctx.exit(NO_DISCREPANCY_EXIT_CODE if report.discrepancies == 0 else DISCREPANCIES_LEFT_EXIT_CODE)


def render_reconciliation(report: ReconciliationReport) -> str:
    """The report as a finance person reads it: totals, then each discrepancy, then what to do."""
    totals = report.totals
    checked = report.checked_at.strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = [
        f"Reconciliation of campaign {report.campaign_id} ({report.mode} mode, {report.state}), {checked}",
        "",
        "Rewards and statuses",
        _row("customers rewarded", totals.rewarded_customers,
             f"{totals.credits} credits, {_money(totals.amount_granted)} granted"),
        _row("statuses reported to Optimove", totals.statuses_sent),
        _row("statuses waiting to be sent", totals.statuses_waiting),
        _row("statuses dead-lettered", totals.statuses_dead),
        _row("statuses re-sent (not a fault)", totals.statuses_resent, _ids(totals.resent_examples)),
        "",
        "Discrepancies",
    ]  # fmt: skip
    for finding in report.findings:
        lines.append(_row(finding.title, finding.count, _ids(finding.examples)))
        lines += [f"      {reason}: {count}" for reason, count in finding.by_reason.items()]
    lines.append("")
    if report.repairs:
        lines.append(f"Repaired ({report.discrepancies_found} discrepancies found before)")
        lines += [_row(repair.title, repair.count) for repair in report.repairs]
        lines.append("")
    if report.note:
        lines += [report.note, ""]
    lines.append(_verdict(report))
    return "\n".join(lines)


def _verdict(report: ReconciliationReport) -> str:
    left = report.discrepancies
    if left == 0:
        return "No discrepancy: every reward recorded is reported, and every status reported stands for one."
    fixable = [f for f in report.findings if f.count and f.repair]
    by_hand = [f for f in report.findings if f.count and not f.repair]
    parts = [f"{left} discrepanc{'y' if left == 1 else 'ies'} left."]
    if fixable and not report.repairs and report.note is None:
        parts.append("`--fix` would " + "; ".join(_fix_phrase(f) for f in fixable) + ".")
    elif fixable:
        parts.append("Still in progress or failing again: " + ", ".join(f.title for f in fixable) + ".")
    if by_hand:
        parts.append("For a person to look into: " + ", ".join(f.title for f in by_hand) + ".")
    return " ".join(parts)


def _fix_phrase(finding: Finding) -> str:
    return f"{finding.repair} ({finding.count})"


def _row(label: str, count: int, note: str = "") -> str:
    return f"  {label:<58}{count:>9}" + (f"   {note}" if note else "")


def _ids(examples: tuple[str, ...]) -> str:
    return f"e.g. {', '.join(examples)}" if examples else ""


def _money(amount: Decimal) -> str:
    cents = amount.quantize(Decimal("0.01"))
    return f"{cents:,.2f}" if cents == amount else f"{amount:,.4f}"
