"""`promobridge explain CUSTOMER_ID`: why did (or didn't) this customer get the reward?"""

from __future__ import annotations

import json

import click

from app.cli._shared import container

UNKNOWN_CUSTOMER_EXIT_CODE = 2


class UnknownCustomer(click.ClickException):
    """promobridge knows nothing of the customer (in the campaign asked for)."""

    exit_code = UNKNOWN_CUSTOMER_EXIT_CODE


def _customer_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from app.domain.trail import is_valid_customer_id

    if not is_valid_customer_id(value):
        raise click.BadParameter("a customer id is 1-128 characters, no control characters")
    return value


@click.command("explain")
@click.argument("customer_id", callback=_customer_id)
@click.option(
    "--campaign",
    "campaign_id",
    type=click.IntRange(1, 2**63 - 1),
    default=None,
    help="Only this campaign (Optimove's CampaignID). Default: every campaign of the customer.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the story as JSON (what the API answers).")
def explain_command(customer_id: str, campaign_id: int | None, as_json: bool) -> None:
    """Tell a customer's story: in the audience or scrubbed (by which policy, on which data), the
    claim (when, through which client and key), OptiPromo's answer, the grant, and the status call
    that reported it to Optimove.

    Exit code: 0 with the story, 2 when promobridge knows nothing of the customer.
    """
    from app.services.trail import customer_trail, render_trail, trail_json

    trail = customer_trail(container().uow, customer_id, campaign_id)
    if trail is None:
        where = f" in campaign {campaign_id}" if campaign_id is not None else ""
        raise UnknownCustomer(f"promobridge knows nothing of customer {customer_id!r}{where}")
    click.echo(json.dumps(trail_json(trail), indent=2) if as_json else render_trail(trail))
