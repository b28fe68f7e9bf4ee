"""API keys: shown once, stored as a hash, refused when malformed, wrong or revoked."""

from __future__ import annotations

import pytest

from app.domain.clients import SCOPE_ADMIN, SCOPE_CAMPAIGNS_READ, SCOPE_CLAIMS
from app.services.clients import (
    ClientExists,
    UnknownScope,
    authenticate,
    create_client,
    list_clients,
    may,
    revoke_client,
)
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory


def test_a_new_clients_key_authenticates_it_and_only_a_hash_of_its_secret_is_stored(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    issued = create_client(uow, "shop", rate_limit_per_minute=600, clock=FixedClock())

    client = authenticate(uow, issued.key)

    assert client is not None and (client.id, client.name, client.rate_limit_per_minute) == (
        issued.client_id,
        "shop",
        600,
    )
    assert client.scopes == frozenset({SCOPE_CLAIMS}) and not client.revoked
    [row] = db.api_clients.rows.values()
    secret = issued.key.split("_", 2)[2]
    assert issued.key == f"pb_{row.key_id}_{secret}" and secret not in repr(row) and row.created_at == T0


def test_a_taken_name_is_refused(uow: FakeUnitOfWorkFactory) -> None:
    create_client(uow, "shop", rate_limit_per_minute=600)
    with pytest.raises(ClientExists):
        create_client(uow, "shop", rate_limit_per_minute=60)
    assert [c.name for c in list_clients(uow)] == ["shop"]


@pytest.mark.parametrize("scopes", [frozenset({"claims", "root"}), frozenset()])
def test_unknown_scopes_or_none_at_all_are_refused_before_anything_is_written(
    uow: FakeUnitOfWorkFactory, scopes: frozenset[str]
) -> None:
    with pytest.raises(UnknownScope):
        create_client(uow, "shop", rate_limit_per_minute=600, scopes=scopes)
    assert uow.opened == 0


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "pb",
        "pb_",
        "pb_abc",
        "pb_abc_",
        "xx_abc123_secret",
        "pb_ABC123_secret",
        "pb_abc\x00_secret",
        "pb_" + "a" * 17 + "_s",
    ],
)
def test_a_malformed_key_is_refused_without_a_lookup(uow: FakeUnitOfWorkFactory, presented: str) -> None:
    assert authenticate(uow, presented) is None and uow.opened == 0


def test_a_wrong_secret_or_an_unknown_key_id_is_refused(uow: FakeUnitOfWorkFactory) -> None:
    issued = create_client(uow, "shop", rate_limit_per_minute=600)
    prefix, key_id, secret = issued.key.split("_", 2)

    assert authenticate(uow, f"{prefix}_{key_id}_{secret}x") is None
    assert authenticate(uow, f"{prefix}_{'0' * 12}_{secret}") is None


def test_a_revoked_key_no_longer_authenticates_and_its_client_stays_listed(
    uow: FakeUnitOfWorkFactory,
) -> None:
    issued = create_client(uow, "shop", rate_limit_per_minute=600)
    other = create_client(uow, "app", rate_limit_per_minute=60, scopes=frozenset({SCOPE_CAMPAIGNS_READ}))

    assert revoke_client(uow, "shop", clock=FixedClock()) and not revoke_client(uow, "shop")
    assert not revoke_client(uow, "nobody")

    assert authenticate(uow, issued.key) is None and authenticate(uow, other.key) is not None
    assert [(c.name, c.revoked) for c in list_clients(uow)] == [("shop", True), ("app", False)]


def test_a_key_may_do_what_its_scopes_say_and_admin_may_do_everything(uow: FakeUnitOfWorkFactory) -> None:
    reader = create_client(uow, "reader", rate_limit_per_minute=60, scopes=frozenset({SCOPE_CAMPAIGNS_READ}))
    admin = create_client(uow, "ops", rate_limit_per_minute=60, scopes=frozenset({SCOPE_ADMIN}))
    reading, operating = authenticate(uow, reader.key), authenticate(uow, admin.key)
    assert reading is not None and operating is not None

    assert may(reading, SCOPE_CAMPAIGNS_READ) and not may(reading, SCOPE_CLAIMS)
    assert all(may(operating, scope) for scope in (SCOPE_CLAIMS, SCOPE_CAMPAIGNS_READ, SCOPE_ADMIN))
