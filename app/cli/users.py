"""`promobridge users`: the people who sign in to the campaign console."""

from __future__ import annotations

import sys

import click

from app.cli._shared import container

ROLES = ("viewer", "operator")


@click.group("users")
def users_group() -> None:
    """Campaign console users (viewers read; operators also act)."""


@users_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="viewer: reads; operator: also acts.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting for it.",
)
def create(name: str, role: str, password_stdin: bool) -> None:
    """Create a console user; the password is prompted for (or read from stdin), never an argument."""
    from app.domain.console import Role
    from app.services.console_users import UnusableUserInput, UserExists, check_user_name, create_user

    try:
        check_user_name(name)
    except UnusableUserInput as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    c = container()
    try:
        create_user(c.uow, c.passwords, name, Role(role), password)
    except (UnusableUserInput, UserExists) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"console user {name} created ({role})")


@users_group.command("list")
def list_users() -> None:
    """List console users (never their password hashes)."""
    from app.services.console_users import list_users as all_users

    for user in all_users(container().uow):
        state = "disabled" if user.disabled else "active"
        last = user.last_sign_in_at.isoformat(timespec="seconds") if user.last_sign_in_at else "never"
        click.echo(f"{user.name:<24} {user.role.value:<9} {state:<9} last sign-in {last}")


@users_group.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable a user at once: no sign-in, and their open sessions stop working."""
    from app.services.console_users import disable_user

    if not disable_user(container().uow, name):
        raise click.ClickException(f"no enabled console user named {name!r}")
    click.echo(f"console user {name} disabled")
