"""`promobridge clients` (API keys of the claims API) and `promobridge claims` (operations)."""

from __future__ import annotations

import json

import click

from app.cli._shared import database_engine
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
    from app.config import load_settings

    settings = load_settings()
    from app.adapters.db.schema import build_engine
    from app.services.clients import ClientExists, create_client

    try:
        issued = create_client(
            build_engine(settings.resolved_database_url),
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
    from app.adapters.db import clients

    with database_engine().connect() as conn:
        for client in clients.list_clients(conn):
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
    from app.adapters.db import clients
    from app.clock import utcnow

    with database_engine().begin() as conn:
        if not clients.revoke_client(conn, name, now=utcnow()):
            raise click.ClickException(f"no active client named {name!r}")
    click.echo(f"client {name} revoked")


@click.group("claims")
def claims_group() -> None:
    """Claims: inspect and replay."""


@claims_group.command("show")
@click.argument("claim_id")
def show(claim_id: str) -> None:
    """Print one claim as JSON, as the API shows it."""
    from app.adapters.db import claims as claim_rows
    from app.web.responses import ClaimView

    with database_engine().connect() as conn:
        claim = claim_rows.get_claim(conn, claim_id)
    if claim is None:
        raise click.ClickException(f"no claim {claim_id}")
    click.echo(json.dumps(ClaimView.from_claim(claim).body(), indent=2))


@claims_group.command("stats")
@click.option("--campaign", "campaign_id", type=int, help="Only this campaign.")
def stats(campaign_id: int | None) -> None:
    """Claims by state, and rejected or failed claims by reason."""
    from app.adapters.db import claims as claim_rows

    with database_engine().connect() as conn:
        by_state = claim_rows.counts_by_state(conn, campaign_id)
        by_reason = claim_rows.counts_by_reason(conn, campaign_id)
    click.echo(json.dumps({"by_state": by_state, "rejected_or_failed_by_reason": by_reason}, indent=2))


@claims_group.command("retry")
@click.argument("claim_ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="Replay every failed claim.")
def retry(claim_ids: tuple[str, ...], all_failed: bool) -> None:
    """Put failed claims back to pending and dispatch them again."""
    if not claim_ids and not all_failed:
        raise click.UsageError("name claim ids or pass --all-failed")
    from app.adapters.broker import TaskPublisher
    from app.services.claim_processing import retry_failed

    moved = retry_failed(database_engine(), TaskPublisher(), list(claim_ids) or None)
    click.echo(f"{len(moved)} claim(s) replayed")
