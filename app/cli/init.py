"""`promobridge init`: write a `.env` with fresh random secrets, readable only by its owner."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import click

# The repository's .env.example (absent from an installed package: then only the secrets are written).
TEMPLATE = Path(__file__).resolve().parents[2] / ".env.example"
OWNER_ONLY = 0o600


@click.command("init")
@click.option(
    "--path",
    "env_path",
    default=".env",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write (promobridge and docker compose read ./.env).",
)
@click.option("--force", is_flag=True, help="Replace an existing file (its secrets are replaced too).")
def init_command(env_path: Path, force: bool) -> None:
    """Write a .env from .env.example with fresh secrets; print what to fill in (never the secrets)."""
    from app.envfile import fresh_deployment_secrets, render_env_file

    template = TEMPLATE.read_text() if TEMPLATE.is_file() else None
    env_file = render_env_file(template, fresh_deployment_secrets())
    try:
        _write_owner_only(env_path, env_file.text, replace=force)
    except FileExistsError:
        raise click.ClickException(
            f"{env_path} exists; pass --force to replace it (and every secret in it)"
        ) from None
    click.echo(f"wrote {env_path} (mode 0600) with fresh {', '.join(env_file.generated)}")
    if template is None:
        click.echo(
            f"(no .env.example next to the code: {env_path} holds only the secrets and the values below)"
        )
    click.echo(f"fill in, in {env_path} (marked '# FILL IN'): {', '.join(env_file.to_fill_in)}")


def _write_owner_only(path: Path, text: str, *, replace: bool) -> None:
    """Create `path` with mode 0600 from the first byte; with `replace`, swap it in whole."""
    if not replace:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        return
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        os.replace(draft, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()
