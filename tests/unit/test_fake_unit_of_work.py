"""What the fake unit of work does that SQL cannot show: it refuses where it would otherwise diverge.

Its SQL semantics are checked against PostgreSQL and SQLite in the integration tier
(tests/integration/test_unit_of_work_contract.py); these are the fake's own guard rails.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.campaigns import CampaignMode, NewCampaign
from app.domain.claims import ClaimState, NewClaim, new_claim_id
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory, TransactionClosed, WouldBlock

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def claim(customer_id: str, session_properties: dict[str, object] | None = None) -> NewClaim:
    return NewClaim(
        new_claim_id(), None, "http", 1, customer_id, None, None, session_properties or {}, None, "h",
        ClaimState.PENDING, None, None, T0,
    )  # fmt: skip


def test_a_repository_used_after_its_unit_of_work_ended_refuses() -> None:
    uow = FakeUnitOfWorkFactory()
    with uow() as ended:
        pass
    with pytest.raises(TransactionClosed, match="campaigns"):
        ended.campaigns.get(1)


def test_locks_are_released_when_a_unit_of_work_commits_or_rolls_back() -> None:
    uow = FakeUnitOfWorkFactory()
    new = claim("a")
    with uow() as first:
        first.claims.add(new)
        with uow() as second, pytest.raises(WouldBlock, match="claims"):
            second.claims.add(claim("a"))
        first.commit()
        with uow() as third:
            assert third.claims.mark_failed({new.id: "x"}, now=T0) == [new.id]  # free once committed
    with uow() as fourth:
        assert fourth.claims.mark_failed({new.id: "x"}, now=T0) == [new.id]  # third rolled back
    assert not uow.db.claims.locks


def test_what_json_cannot_hold_is_refused_as_sql_refuses_it() -> None:
    uow = FakeUnitOfWorkFactory()
    with uow() as u, pytest.raises(TypeError):
        u.claims.add(claim("a", {"when": T0}))


def test_values_read_back_are_copies_a_caller_cannot_change_in_the_table() -> None:
    uow = FakeUnitOfWorkFactory()
    new = claim("a", {"basket": [1, 2]})
    with uow() as u:
        u.claims.add(new)
        u.commit()
        read = u.claims.get(new.id)
        assert read is not None
        read.session_properties["basket"].append(3)
        again = u.claims.get(new.id)
    assert again is not None and again.session_properties == {"basket": [1, 2]}


def test_the_factory_counts_the_units_of_work_it_opened_and_keeps_the_last() -> None:
    uow = FakeUnitOfWorkFactory()
    with uow() as u:
        u.limit_statement_time(40)
        u.campaigns.add(NewCampaign(1, CampaignMode.CLAIM, None, None, 10), now=T0)
    assert uow.opened == 1 and uow.last is u and u.statement_time_limit_ms == 40
    assert not uow.db.campaigns.rows  # never committed
