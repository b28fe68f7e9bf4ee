"""The operator's own customer flags: loaded at once, a customer's flags replaced by the latest load."""

from __future__ import annotations

from app.domain.audience import OperatorFlags
from app.services.operator_data import load_operator_flags
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory


def test_flags_are_loaded_and_a_later_load_replaces_a_customers_flags(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    first = [("alice", OperatorFlags(consent=False)), ("bob", OperatorFlags(fraud=True, vip_level=2))]
    assert load_operator_flags(uow, first, clock=FixedClock()) == 2

    assert load_operator_flags(uow, [("alice", OperatorFlags(vip_level=3))]) == 1

    with uow() as u:
        assert u.operator_data.flags_for(["alice", "bob", "carol"]) == {
            "alice": OperatorFlags(vip_level=3),
            "bob": OperatorFlags(fraud=True, vip_level=2),
        }
    assert db.customer_flags.rows["bob"].updated_at == T0


def test_an_empty_load_writes_nothing(uow: FakeUnitOfWorkFactory) -> None:
    assert load_operator_flags(uow, []) == 0
    with uow() as u:
        assert not u.operator_data.has_any()
