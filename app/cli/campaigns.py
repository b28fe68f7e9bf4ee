"""`promobridge campaigns` (the campaign report) and `promobridge operator-data` (policy inputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app.cli._shared import container
from app.cli.control import AMOUNT, LIMIT, _or_dash

if TYPE_CHECKING:
    from app.services.reports import CampaignReport


@click.group("campaigns")
def campaigns_group() -> None:
    """Scheduled campaigns: progress and counts."""


@campaigns_group.command("show")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def show(campaign_id: int, as_json: bool) -> None:
    """Show one campaign's report: pages, rows, scrubbed by reason, approvals, deadline."""
    from app.services.reports import campaign_report

    report = campaign_report(container().uow, campaign_id)
    if report is None:
        raise click.ClickException(f"campaign {campaign_id} is unknown")
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else render_report(report))


@campaigns_group.command("set")
@click.argument("campaign_id", type=click.IntRange(1, 2**63 - 1))
@click.option(
    "--triggered",
    "kind",
    flag_value="triggered",
    default=None,
    help="Declare a triggered campaign: the gateway acts only for declared ones.",
)
@click.option(
    "--scheduled", "kind", flag_value="scheduled", help="Declare a scheduled (EventTypeID 5) campaign."
)
@click.option(
    "--mode",
    type=click.Choice(["claim", "auto", "none"]),
    default=None,
    help="claim or auto (refused once approvals or claims have started); none clears it.",
)
@click.option("--max-audience", type=LIMIT, help="Hold the campaign past N customers.")
@click.option("--max-rewards", type=LIMIT, help="Reject claims past N rewards.")
@click.option("--max-reward-amount", type=AMOUNT, help="Reject claims past this total amount.")
@click.option("--notes", help="Free text kept with the campaign (who asked, why).")
def set_settings(
    campaign_id: int,
    kind: str | None,
    mode: str | None,
    max_audience: object,
    max_rewards: object,
    max_reward_amount: object,
    notes: str | None,
) -> None:
    """Set a campaign's settings, before or after Optimove announces it ('none' clears a value back
    to the rule or the environment)."""
    from app.services.campaign_settings import KEEP, SettingsRefused, set_campaign_settings

    context = click.get_current_context()

    def given(name: str, value: object) -> Any:
        # An option left out keeps the stored value; `none` (None) clears it.
        left_out = context.get_parameter_source(name) in (None, click.core.ParameterSource.DEFAULT)
        return KEEP if left_out else value

    c = container()
    try:
        stored = set_campaign_settings(
            c.uow,
            campaign_id,
            kind=kind,
            notes=notes,
            updated_by="cli",
            mode=KEEP if mode is None else (None if mode == "none" else mode),
            max_audience=given("max_audience", max_audience),
            max_rewards=given("max_rewards", max_rewards),
            max_reward_amount=given("max_reward_amount", max_reward_amount),
            control=c.control,
        )
    except SettingsRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"campaign {campaign_id}: kind={stored.kind or '-'} mode={stored.mode or '-'} "
        f"max_audience={_or_dash(stored.max_audience)} max_rewards={_or_dash(stored.max_rewards)} "
        f"max_reward_amount={_or_dash(stored.max_reward_amount)} notes={stored.notes or '-'}"
    )


@campaigns_group.command("settings")
@click.argument("campaign_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
def show_settings(campaign_id: int, as_json: bool) -> None:
    """Show what applies to a campaign now, and where each value comes from."""
    from app.services.campaign_settings import campaign_settings_view

    c = container()
    own, effective, campaign = campaign_settings_view(c.uow, campaign_id, c.control)
    data = {
        "campaign_id": campaign_id,
        "mode": campaign.mode.value if campaign is not None else effective.mode,
        "mode_from": campaign.mode_from if campaign is not None else effective.mode_from,
        "safeguards": effective.safeguards.as_json(),
        "sources": dict(effective.sources),
        "hold": campaign.hold if campaign is not None else None,
        "notes": own.notes if own is not None else None,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"campaign {campaign_id}  mode={data['mode']} (from {data['mode_from'] or 'its first page'})")
    for name, value in effective.safeguards.as_json().items():
        click.echo(f"  {name:<20}{_or_dash(value):<16}from {effective.sources[name]}")
    click.echo(f"  held                {data['hold'] or 'no'}")


@campaigns_group.command("release")
@click.argument("campaign_id", type=click.IntRange(1, 2**63 - 1))
def release(campaign_id: int) -> None:
    """Release a campaign a safeguard holds: its approvals go and its claims are processed."""
    from app.services.operator_control import UnknownCampaign, release_campaign

    c = container()
    try:
        released = release_campaign(c.uow, c.validation_doorbell, campaign_id, by="cli")
    except UnknownCampaign as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"campaign {campaign_id} released" if released else f"campaign {campaign_id} was not held")


@campaigns_group.command("list")
@click.option("--limit", default=20, show_default=True, type=int)
def list_campaigns(limit: int) -> None:
    """List the most recent campaigns."""
    from app.services.reports import recent_campaigns

    rows = recent_campaigns(container().uow, limit=limit)
    click.echo(
        f"{'campaign':>10}  {'mode':<6} {'state':<10} {'rows':>9} {'eligible':>9} {'approved':>9}  deadline"
    )
    for c in rows:
        deadline = c.clearance_required_by.isoformat() if c.clearance_required_by else "-"
        click.echo(
            f"{c.id:>10}  {c.mode.value:<6} {c.state.value:<10} {c.rows_ingested:>9} "
            f"{c.eligible_count:>9} {c.approved_count:>9}  {deadline}"
        )


def render_report(report: CampaignReport) -> str:
    """The human-readable campaign report."""
    deadline = report.clearance_required_by.isoformat() if report.clearance_required_by else "-"
    lines = [
        f"campaign {report.campaign_id}  kind={report.kind}  mode={report.mode}  state={report.state}",
        f"  deadline (ClearanceRequiredBy)  {deadline}  ({report.seconds_to_deadline}s from now)"
        + ("  AT RISK" if report.at_risk else ""),
        f"  pages done                      {report.pages_done} (last page: {report.last_page})",
        f"  customers ingested              {report.rows_ingested}",
        f"  eligible                        {report.eligible}",
        f"  scrubbed                        {report.scrubbed}",
    ]
    lines += [f"    {reason:<30}{count}" for reason, count in sorted(report.scrubbed_by_reason.items())]
    lines.append("  segments (eligible)")
    lines += [f"    {segment:<30}{count}" for segment, count in sorted(report.segments.items())]
    lines += [
        f"  claimed                         {report.claimed}",
        f"  validated                       {report.validated}",
        f"  rejected                        {report.rejected}",
    ]
    lines += [f"    {reason:<30}{count}" for reason, count in sorted(report.rejected_by_reason.items())]
    lines += [
        f"  rewarded                        {report.rewarded}",
        f"  failed                          {report.failed}",
    ]
    lines += [f"    {reason:<30}{count}" for reason, count in sorted(report.failed_by_reason.items())]
    lines += [
        f"  approvals sent                  {report.approvals_sent} in {report.approval_calls} calls",
        f"  approvals pending               {report.approvals_pending}"
        + (
            f" (oldest {report.oldest_pending_seconds}s)" if report.oldest_pending_seconds is not None else ""
        ),
        f"  approvals dead-lettered         {report.approvals_dead}",
        f"  re-sent (ambiguous failures)    {report.resent}",
        f"  ingest time                     {report.ingest_seconds}s",
        f"  start to last approval          {report.webhook_to_last_approval_seconds}s",
    ]
    lines.append(f"  mode from                       {report.mode_from or 'its first page'}")
    lines.append(
        f"  rewards reserved                {report.rewards_reserved} (amount {report.amount_reserved})"
    )
    lines += [
        f"  safeguard trips  {name:<15}{count}" for name, count in sorted(report.safeguard_trips.items())
    ]
    if report.hold:
        lines.append(f"  HELD                            {report.hold}")
    if report.paused:
        lines.append("  PAUSED                          promobridge is paused (`promobridge resume`)")
    if report.error:
        lines.append(f"  last error                      {report.error}")
    if report.event_conflicts:
        lines.append(
            f"  CONFLICTING EVENTS              {report.event_conflicts} (differ from the first event; "
            "not acted on)"
        )
        for conflict in report.recent_event_conflicts:
            lines.append(
                f"    event {conflict['event_id']} at {conflict['received_at']}: {conflict['payload']}"
            )
    return "\n".join(lines)


@click.group("operator-data")
def operator_data_group() -> None:
    """Operator-provided customer data that the policies read."""


@operator_data_group.command("load")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load(csv_file: Path) -> None:
    """Load customer_id,consent,fraud,vip_level rows (blank = no opinion) into the flags table."""
    from app.adapters.operator_csv import read_flags_csv
    from app.services.operator_data import load_operator_flags

    try:
        rows = read_flags_csv(csv_file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    written = load_operator_flags(container().uow, rows)
    click.echo(f"loaded flags for {written} customers")
