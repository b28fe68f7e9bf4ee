"""`promobridge clients` (API keys of the claims API) and `promobridge claims` (operations)."""

from __future__ import annotations

import json

import click

from app.cli._shared import container
from app.domain.clients import DEFAULT_SCOPES, SCOPES


@click.group("clients")
def clients_group() -> None:
    """Backends allowed to call the claims API."""


@clients_group.command("create")
@click.argument("name")
@click.option(
    "--rate-limit-per-minute", type=click.IntRange(min=1), help="Default: CLAIMS_RATE_LIMIT_PER_MINUTE."
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(sorted(SCOPES)),
    help="What the key may do (repeat; default: claims). campaigns:read reads campaign reports.",
)
def create(name: str, rate_limit_per_minute: int | None, scopes: tuple[str, ...]) -> None:
    """Create a client and print its API key (shown this once; only a hash is stored)."""
    c = container()
    settings = c.settings
    from app.services.clients import ClientExists, create_client

    try:
        issued = create_client(
            c.uow,
            name,
            rate_limit_per_minute=rate_limit_per_minute or settings.claims_rate_limit_per_minute,
            scopes=frozenset(scopes) or DEFAULT_SCOPES,
        )
    except ClientExists as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"client {issued.name} created; its API key (store it now, it is not shown again):", err=True)
    click.echo(issued.key)


@clients_group.command("list")
def list_clients() -> None:
    """List clients (never their keys)."""
    from app.services.clients import list_clients as all_clients

    for client in all_clients(container().uow):
        state = "revoked" if client.revoked else "active"
        scopes = ",".join(sorted(client.scopes))
        click.echo(
            f"{client.name:<24} key id {client.key_id}  {client.rate_limit_per_minute}/min  "
            f"{scopes:<28} {state}"
        )


@clients_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a client's key at once."""
    from app.services.clients import revoke_client

    if not revoke_client(container().uow, name):
        raise click.ClickException(f"no active client named {name!r}")
    click.echo(f"client {name} revoked")


@click.group("claims")
def claims_group() -> None:
    """Claims: inspect and replay."""


@claims_group.command("show")
@click.argument("claim_id")
def show(claim_id: str) -> None:
    """Print one claim as JSON, as the API shows it."""
    from app.services.claims import get_claim
    from app.web.responses import ClaimView

    claim = get_claim(container().uow, claim_id)
    if claim is None:
        raise click.ClickException(f"no claim {claim_id}")
    click.echo(json.dumps(ClaimView.from_claim(claim).body(), indent=2))


@claims_group.command("stats")
@click.option("--campaign", "campaign_id", type=int, help="Only this campaign.")
def stats(campaign_id: int | None) -> None:
    """Claims by state, and rejected or failed claims by reason."""
    from app.services.claims import claim_stats

    by_state, by_reason = claim_stats(container().uow, campaign_id)
    click.echo(json.dumps({"by_state": by_state, "rejected_or_failed_by_reason": by_reason}, indent=2))


@claims_group.command("retry")
@click.argument("claim_ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Replay every failed claim.")
def retry(claim_ids: tuple[str, ...], all_failed: bool) -> None:
    """Put failed claims back to pending and dispatch them again."""
    if not claim_ids and not all_failed:
        raise click.UsageError("name claim ids or pass --all-failed")
    from app.services.claim_recovery import retry_failed

    c = container()
    moved = retry_failed(c.uow, c.validation_doorbell, list(claim_ids) or None)
    click.echo(f"{len(moved)} claim(s) replayed")
