"""`promobridge register`: idempotent one-time listener setup with Optimove."""

from __future__ import annotations

import click

from app.cli._shared import settings_checked_for


@click.command("register")
@click.option(
    "--with-cancel/--without-cancel",
    default=True,
    show_default=True,
    help="Also listen for EventTypeID 4 (campaign canceled).",
)
@click.option(
    "--with-triggered/--without-triggered",
    default=True,
    show_default=True,
    help="Also set the triggered-campaign gateway (one URL per tenant: setting it again is harmless).",
)
def register_command(with_cancel: bool, with_triggered: bool) -> None:
    """Register the EventTypeID 5 listener (listing first; only what is missing is registered)."""
    from app.adapters.optimove.errors import OptimoveError
    from app.bootstrap import build_optimove_client, build_rate_limiter
    from app.domain.campaigns import EVENT_CAMPAIGN_CANCELED, EVENT_SCHEDULED_CONDITIONAL
    from app.security import with_listener_token
    from app.services.registration import ensure_listeners

    settings = with_listener_token(settings_checked_for("register"))
    client = build_optimove_client(settings, build_rate_limiter(settings))
    event_types = [EVENT_SCHEDULED_CONDITIONAL] + ([EVENT_CAMPAIGN_CANCELED] if with_cancel else [])
    try:
        outcome = ensure_listeners(client, settings.listener_url, event_types)
        if with_triggered:
            client.register_triggered_webhook(settings.triggered_gateway_url)
    except OptimoveError as exc:
        raise click.ClickException(f"Optimove refused the registration: {type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    url = settings.listener_url.replace(settings.listener_token, "<token>")
    for event_type, action in outcome.actions.items():
        click.echo(f"EventTypeID {event_type}: {action} ({url})")
    if with_triggered:
        click.echo(
            "triggered gateway: set ({})".format(
                settings.triggered_gateway_url.replace(settings.listener_token, "<token>")
            )
        )
