"""A campaign's page beyond the report: claims per minute, validation batches, failures, the budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert

from app.adapters.db.tables import claims
from app.adapters.passwords import Argon2Passwords
from app.domain.budget import BudgetUsage
from app.domain.campaigns import CampaignMode, NewCampaign
from app.domain.console import Role
from app.services.console import RECENT_MINUTES, campaign_activity
from app.services.console_users import LockoutPolicy, SignInRefused, create_user, sign_in
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, writing

CAMPAIGN = 77
NOW = datetime(2026, 11, 27, 10, 30, 20, tzinfo=UTC)


class Ledger:
    def __init__(self, usage: BudgetUsage | None = None, broken: bool = False) -> None:
        self._usage, self._broken = usage, broken

    def usage(self) -> BudgetUsage | None:
        if self._broken:
            raise ConnectionError("redis is away")
        return self._usage


def _claims(engine: Engine, rows: list[tuple[str, datetime, datetime | None]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(claims),
            [
                {
                    "id": f"claim-{n}",
                    "source": "test",
                    "campaign_id": CAMPAIGN,
                    "customer_id": f"c{n}",
                    "session_properties": {},
                    "request_hash": "h",
                    "state": state,
                    "reason": "activation_unconfirmed" if state == "failed" else None,
                    "created_at": created,
                    "updated_at": created + timedelta(seconds=n),
                    "validated_at": validated,
                }
                for n, (state, created, validated) in enumerate(rows)
            ],
        )


def test_the_page_counts_claims_per_minute_batches_and_the_latest_failures(any_engine: Engine) -> None:
    with writing(any_engine) as uow:
        uow.campaigns.add(
            NewCampaign(CAMPAIGN, CampaignMode.CLAIM, NOW + timedelta(hours=1), None, 100), now=NOW
        )
    batch_a, batch_b = NOW - timedelta(minutes=2, seconds=5), NOW - timedelta(seconds=3)
    _claims(
        any_engine,
        [("completed", NOW - timedelta(minutes=2, seconds=10), batch_a)] * 3
        + [("failed", NOW - timedelta(seconds=15), batch_b)] * 2
        + [("pending", NOW - timedelta(seconds=1), None)]
        + [("completed", NOW - timedelta(hours=2), NOW - timedelta(hours=2))],  # long ago: not recent
    )
    activity = campaign_activity(
        SqlAlchemyUnitOfWorkFactory(any_engine), Ledger(BudgetUsage(7, 20, 2.25)), CAMPAIGN, clock=lambda: NOW
    )
    assert activity is not None
    minutes = activity.claims_per_minute
    assert len(minutes) == RECENT_MINUTES and minutes[-1].at == NOW.replace(second=0)
    assert [b.claims for b in minutes[-3:]] == [3, 0, 3]  # 10:28, 10:29 (none), 10:30
    assert sum(b.claims for b in minutes) == 6
    assert [(b.at, b.claims) for b in activity.validation_batches] == [(batch_b, 2), (batch_a, 3)]
    assert [c.state.value for c in activity.failed_claims] == ["failed", "failed"]
    assert activity.failed_claims[0].updated_at > activity.failed_claims[1].updated_at
    assert activity.budget == BudgetUsage(7, 20, 2.25) and activity.budget_note is None
    assert activity.report.claimed == 7


@pytest.mark.parametrize(
    ("ledger", "note"), [(Ledger(None), "not shared"), (Ledger(broken=True), "cannot be read")]
)
def test_the_page_says_why_it_shows_no_budget(pg_engine: Engine, ledger: Ledger, note: str) -> None:
    with writing(pg_engine) as uow:
        uow.campaigns.add(NewCampaign(CAMPAIGN, CampaignMode.AUTO, None, None, 100), now=NOW)
    activity = campaign_activity(SqlAlchemyUnitOfWorkFactory(pg_engine), ledger, CAMPAIGN, clock=lambda: NOW)
    assert activity is not None and activity.budget is None and note in (activity.budget_note or "")
    assert campaign_activity(SqlAlchemyUnitOfWorkFactory(pg_engine), ledger, 404, clock=lambda: NOW) is None


def test_a_lock_ends_and_a_right_password_then_signs_in(pg_engine: Engine) -> None:
    uow, passwords = SqlAlchemyUnitOfWorkFactory(pg_engine), Argon2Passwords()
    create_user(uow, passwords, "ada", Role.OPERATOR, "a long and random passphrase")
    policy = LockoutPolicy(max_failures=2, lock_for=timedelta(minutes=15))
    for attempt, locked in ((0, False), (1, True)):
        with pytest.raises(SignInRefused) as refused:
            sign_in(uow, passwords, "ada", f"wrong {attempt}", policy=policy, address="a", clock=lambda: NOW)
        assert refused.value.locked is locked
    with pytest.raises(SignInRefused):
        sign_in(
            uow,
            passwords,
            "ada",
            "a long and random passphrase",
            policy=policy,
            address="a",
            clock=lambda: NOW,
        )
    later = NOW + timedelta(minutes=16)
    user = sign_in(
        uow, passwords, "ada", "a long and random passphrase", policy=policy, address="a", clock=lambda: later
    )
    assert user.name == "ada"
    with writing(pg_engine) as unit:
        stored = unit.console_users.find_by_name("ada")
    assert stored is not None and stored.failed_sign_ins == 0 and stored.last_sign_in_at == later
