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
    """Register the EventTypeID 5 listener (listing first; only what is missing is registered).

    Transient Optimove failures (5xx, timeouts, 429) are retried with backoff (RETRY_BACKOFF_*_SECONDS),
    up to 6 attempts per call; a refused key or request stops at once.
    """
    from app.bootstrap import build_optimove_client, build_rate_limiter
    from app.domain.backoff import Backoff
    from app.domain.campaigns import EVENT_CAMPAIGN_CANCELED, EVENT_SCHEDULED_CONDITIONAL
    from app.domain.optimove_errors import OptimoveAuthError, OptimoveError, TransientOptimoveError
    from app.security import with_listener_token
    from app.services.registration import (
        RetryingRegistry,
        RetryPolicy,
        ensure_listeners,
        unreachable_listener_warning,
    )

    settings = with_listener_token(settings_checked_for("register"))

    def hide_token(text: str) -> str:
        return text.replace(settings.listener_token, "<token>")

    warning = unreachable_listener_warning(settings.listener_url, settings.optimove_api_url)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    # A one-time command sleeps between attempts: it waits a server's Retry-After out in full.
    backoff = Backoff(
        settings.retry_backoff_base_seconds, settings.retry_backoff_max_seconds, cap_retry_after=False
    )
    policy = RetryPolicy(backoff=backoff)

    def say_retry(attempt: int, error: TransientOptimoveError, delay: float) -> None:
        click.echo(
            f"Optimove {error.endpoint}: {_describe(error)}; retry {attempt} of {policy.attempts - 1} "
            f"in {delay:.1f} s",
            err=True,
        )

    client = build_optimove_client(settings, build_rate_limiter(settings))
    registry = RetryingRegistry(client, policy, on_retry=say_retry)
    event_types = [EVENT_SCHEDULED_CONDITIONAL] + ([EVENT_CAMPAIGN_CANCELED] if with_cancel else [])
    try:
        outcome = ensure_listeners(registry, settings.listener_url, event_types)
        if with_triggered:
            registry.register_triggered_webhook(settings.triggered_gateway_url)
    except OptimoveAuthError as exc:
        raise click.ClickException(
            f"Optimove refused the API key ({_describe(exc)}): check OPTIMOVE_API_KEY and its permissions"
        ) from exc
    except TransientOptimoveError as exc:
        raise click.ClickException(
            f"Optimove still failing after {policy.attempts} attempts: {hide_token(_describe(exc))}; "
            "nothing is lost by running register again later"
        ) from exc
    except OptimoveError as exc:
        raise click.ClickException(
            f"Optimove refused the registration: {hide_token(_describe(exc))}"
        ) from exc
    finally:
        client.close()
    url = hide_token(settings.listener_url)
    for event_type, action in outcome.actions.items():
        click.echo(f"EventTypeID {event_type}: {action} ({url})")
    if with_triggered:
        click.echo(f"triggered gateway: set ({hide_token(settings.triggered_gateway_url)})")


def _describe(error: Exception) -> str:
    status = getattr(error, "status", None)
    return f"{type(error).__name__}{f' (HTTP {status})' if status else ''}: {error}"
