"""`promobridge users`: create (password prompted or on stdin, never an argument), list, disable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.adapters.db.tables import console_users
from app.processes import CommandFailed, ProcessGroup
from tests.support.databases import migrated_engine, throwaway_postgres_database

PASSWORD = "a long and random passphrase"


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[ProcessGroup, str]]:
    with throwaway_postgres_database("promobridge_users_cli") as url:
        migrated_engine(url).dispose()
        yield ProcessGroup({"DATABASE_URL": url, "PROMOBRIDGE_DATA_DIR": str(tmp_path)}, tmp_path), url


def test_users_are_created_listed_and_disabled_and_only_a_hash_is_stored(
    cli: tuple[ProcessGroup, str],
) -> None:
    group, url = cli
    created = group.run(
        "users", "create", "ada", "--role", "operator", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert created.strip() == "console user ada created (operator)"
    prompted = group.run("users", "create", "vic", "--role", "viewer", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert "console user vic created (viewer)" in prompted and PASSWORD not in prompted
    listing = group.run("users", "list").splitlines()
    assert [line.split()[:3] for line in listing] == [
        ["ada", "operator", "active"],
        ["vic", "viewer", "active"],
    ]

    engine = migrated_engine(url)
    try:
        with engine.connect() as conn:
            hashes = list(conn.execute(select(console_users.c.password_hash)).scalars())
    finally:
        engine.dispose()
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes) and len(set(hashes)) == 2

    assert group.run("users", "disable", "ada").strip() == "console user ada disabled"
    assert group.run("users", "list").splitlines()[0].split()[:3] == ["ada", "operator", "disabled"]
    with pytest.raises(CommandFailed, match="no enabled console user named 'ada'"):
        group.run("users", "disable", "ada")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("create", "ada", "--role", "operator", "--password-stdin"), "short\n", "at least 12 characters"),
        (("create", "ada", "--role", "admin", "--password-stdin"), f"{PASSWORD}\n", "'admin' is not one of"),
        (("create", "ada", "--role", "viewer", PASSWORD), "", "unexpected extra argument"),
        (("create", "ada lovelace", "--role", "viewer", "--password-stdin"), f"{PASSWORD}\n", "user name"),
    ],
)
def test_a_weak_password_an_unknown_role_or_a_password_argument_is_refused(
    cli: tuple[ProcessGroup, str], args: tuple[str, ...], stdin: str, message: str
) -> None:
    group, _ = cli
    with pytest.raises(CommandFailed, match=message):
        group.run("users", *args, stdin=stdin)
    assert group.run("users", "list") == ""


def test_a_name_is_taken_once(cli: tuple[ProcessGroup, str]) -> None:
    group, _ = cli
    group.run("users", "create", "ada", "--role", "viewer", "--password-stdin", stdin=f"{PASSWORD}\n")
    with pytest.raises(CommandFailed, match="already exists"):
        group.run("users", "create", "ada", "--role", "operator", "--password-stdin", stdin=f"{PASSWORD}\n")
