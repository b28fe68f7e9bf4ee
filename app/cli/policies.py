"""`promobridge policies dry-run`: what another policy list would change in a stored audience."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from app.cli._shared import container

if TYPE_CHECKING:
    from app.domain.reconciliation import IdSample
    from app.services.policy_dry_run import DryRunReport

UNKNOWN_CAMPAIGN_EXIT_CODE = 2


class UnknownCampaign(click.ClickException):
    """The campaign id names no campaign promobridge knows."""

    exit_code = UNKNOWN_CAMPAIGN_EXIT_CODE


@click.group("policies")
def policies_group() -> None:
    """The audience policies: try another list on a campaign already ingested."""


@policies_group.command("dry-run")
@click.option("--campaign", "campaign_id", type=click.IntRange(1, 2**63 - 1), required=True)
@click.option(
    "--policies",
    help="Dotted paths, comma-separated, in order, as PROMOBRIDGE_POLICIES (default: the configured ones).",
)
@click.option(
    "--options",
    help="JSON keyword options per policy, as PROMOBRIDGE_POLICY_OPTIONS (default: the configured ones).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--examples", type=click.IntRange(0, 1000), default=5, show_default=True, help="Ids per bucket."
)
def dry_run(
    campaign_id: int, policies: str | None, options: str | None, as_json: bool, examples: int
) -> None:
    """Re-run policies on a campaign's stored audience and show what would change; changes nothing."""
    from app.bootstrap import build_policy_pipeline
    from app.services.policy_dry_run import dry_run_policies

    c = container()
    overrides = {"policies": policies, "policy_options": options}
    settings = c.settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    try:
        pipeline = build_policy_pipeline(settings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--policies/--options") from exc
    report = dry_run_policies(c.uow, campaign_id, pipeline, examples=examples)
    if report is None:
        raise UnknownCampaign(f"campaign {campaign_id} is unknown")
    if as_json:
        data = report.as_json() | {
            "policies": list(settings.policy_paths),
            "options": settings.policy_option_map,
        }
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_dry_run(report, settings.policy_paths, settings.policy_options))


def render_dry_run(report: DryRunReport, policies: tuple[str, ...], options: str) -> str:
    """The dry run as an operator reads it: totals now and after, then who would change, by bucket."""
    lines = [
        f"Policies dry run on campaign {report.campaign_id}: {report.customers:,} customers, nothing changed",
        f"  policies  {', '.join(policies) or '(none: everyone eligible)'}",
        f"  options   {options}",
        "",
        f"  {'':<46}{'now':>12}{'with these policies':>22}",
        f"  {'eligible':<46}{report.eligible_now:>12,}{report.eligible_after:>22,}",
    ]
    for reason in sorted(report.scrubbed_now.keys() | report.scrubbed_after.keys()):
        now, after = report.scrubbed_now.get(reason, 0), report.scrubbed_after.get(reason, 0)
        lines.append(f"  {'scrubbed: ' + reason:<46}{now:>12,}{after:>22,}")
    lines.append("")
    for title, buckets in (
        ("newly scrubbed (by the new reason)", report.newly_scrubbed),
        ("newly eligible (by the reason they had)", report.newly_eligible),
        ("scrubbed for another reason", report.reason_changed),
        ("segment changes (eligible before and after)", report.segment_changed),
    ):
        lines.append(f"  {title:<46}{sum(s.count for s in buckets.values()):>12,}")
        lines += [_bucket(key, sample) for key, sample in buckets.items()]
    lines.append(f"  {'unchanged':<46}{report.unchanged:>12,}")
    return "\n".join(lines)


def _bucket(key: str, sample: IdSample) -> str:
    ids = f"   e.g. {', '.join(sample.examples)}" if sample.examples else ""
    return f"    {key:<44}{sample.count:>12,}{ids}"
