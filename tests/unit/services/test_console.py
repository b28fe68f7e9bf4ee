"""The console service on the fake unit of work: a campaign's page, audited actions, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.budget import BudgetUsage
from app.domain.claims import ClaimState
from app.domain.console import DONE, REFUSED, ConsoleUser, Role
from app.services.campaign_settings import SettingsRefused
from app.services.console import (
    CHANGE_SETTINGS,
    PAUSE,
    RECENT_MINUTES,
    RESUME,
    RETRY_FAILED_CLAIMS,
    ActionRefused,
    SettingsForm,
    audit_log,
    campaign_activity,
    change_campaign_settings,
    pause_everything,
    record,
    release_held_campaign,
    resume_everything,
    retry_campaign_failed_claims,
)
from app.services.operator_control import ControlConfig
from app.services.validation import ValidationDoorbell
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import CAMPAIGN, claim_campaign, claim_states, pending_claims


class Ledger:
    """A budget ledger that answers what it is given, or fails like an unreachable Redis."""

    def __init__(self, usage: BudgetUsage | None = None, *, broken: bool = False) -> None:
        self._usage = usage
        self._broken = broken

    def usage(self) -> BudgetUsage | None:
        if self._broken:
            raise ConnectionError("redis is away")
        return self._usage


def user(role: Role, name: str = "dana") -> ConsoleUser:
    return ConsoleUser(1, name, role, "hash", 0, None, T0, None, None)


def failed_claims(uow: FakeUnitOfWorkFactory, *customers: str) -> list[str]:
    ids = pending_claims(uow, *customers)
    with uow() as u:
        u.claims.mark_failed({i: "activator: endpoint answered 403" for i in ids}, now=T0)
        u.commit()
    return ids


def test_an_unknown_campaign_has_no_page(uow: FakeUnitOfWorkFactory, clock: FixedClock) -> None:
    assert campaign_activity(uow, Ledger(), 404, clock=clock) is None


def test_the_page_counts_claims_in_every_recent_minute_including_empty_ones(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow)
    pending_claims(uow, "alice", "bob", at=T0 - timedelta(minutes=3))
    activity = campaign_activity(uow, Ledger(), CAMPAIGN, clock=clock)
    assert activity is not None
    assert len(activity.claims_per_minute) == RECENT_MINUTES
    assert sum(bucket.claims for bucket in activity.claims_per_minute) == 2
    assert [b.claims for b in activity.claims_per_minute].count(0) == RECENT_MINUTES - 1
    minutes = [bucket.at for bucket in activity.claims_per_minute]
    assert minutes == sorted(minutes) and minutes[-1] == T0.replace(second=0, microsecond=0)


def test_the_page_lists_failed_claims_and_the_report_it_shares_with_the_api(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow)
    failed = failed_claims(uow, "alice")
    activity = campaign_activity(uow, Ledger(BudgetUsage(12, 50, 10.0)), CAMPAIGN, clock=clock)
    assert activity is not None
    assert [claim.id for claim in activity.failed_claims] == failed
    assert activity.report.campaign_id == CAMPAIGN
    assert activity.budget == BudgetUsage(12, 50, 10.0) and activity.budget_note is None


def test_the_page_says_why_the_budget_is_missing_instead_of_failing(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow)
    away = campaign_activity(uow, Ledger(broken=True), CAMPAIGN, clock=clock)
    unshared = campaign_activity(uow, Ledger(None), CAMPAIGN, clock=clock)
    assert away is not None and away.budget is None and "cannot be read" in (away.budget_note or "")
    assert unshared is not None and unshared.budget is None and "not shared" in (unshared.budget_note or "")


def test_an_operator_retries_failed_claims_and_the_retry_is_audited_with_them(
    uow: FakeUnitOfWorkFactory,
    clock: FixedClock,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
) -> None:
    claim_campaign(uow)
    failed = failed_claims(uow, "alice", "bob")
    replayed = retry_campaign_failed_claims(uow, doorbell, user(Role.OPERATOR), CAMPAIGN, clock=clock)
    assert sorted(replayed) == sorted(failed)
    assert claim_states(uow, failed) == [ClaimState.PENDING, ClaimState.PENDING]
    (entry,) = audit_log(uow)
    assert (entry.user, entry.action, entry.outcome) == ("dana", RETRY_FAILED_CLAIMS, DONE)
    assert entry.detail["claims"] == 2 and sorted(entry.detail["claim_ids"]) == sorted(failed)
    assert list(dispatcher.validations) == [(CAMPAIGN, "SPRING")], (
        "the validator is rung for the replayed claims"
    )


def test_a_viewer_cannot_retry_and_the_refusal_is_audited(
    uow: FakeUnitOfWorkFactory,
    clock: FixedClock,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
) -> None:
    claim_campaign(uow)
    failed = failed_claims(uow, "alice")
    with pytest.raises(ActionRefused, match="viewer"):
        retry_campaign_failed_claims(uow, doorbell, user(Role.VIEWER, "vic"), CAMPAIGN, clock=clock)
    assert claim_states(uow, failed) == [ClaimState.FAILED]
    (entry,) = audit_log(uow)
    assert (entry.user, entry.outcome, entry.detail["role"]) == ("vic", REFUSED, "viewer")
    assert not dispatcher.validations


def test_the_audit_log_is_newest_first_and_bounded(uow: FakeUnitOfWorkFactory, clock: FixedClock) -> None:
    for n in range(3):
        record(uow, user(Role.OPERATOR), "sign_out", f"session {n}", clock=clock)
        clock.advance(seconds=1)
    assert [entry.target for entry in audit_log(uow, limit=2)] == ["session 2", "session 1"]


def test_an_operator_pauses_and_resumes_and_each_is_audited_with_whether_it_changed_anything(
    uow: FakeUnitOfWorkFactory, clock: FixedClock, doorbell: ValidationDoorbell
) -> None:
    otto = user(Role.OPERATOR, "otto")
    assert pause_everything(uow, otto, "fraud review", clock=clock)
    assert not pause_everything(uow, otto, None, clock=clock)  # already paused
    assert resume_everything(uow, doorbell, otto, clock=clock)
    entries = [(e.action, e.outcome, e.detail.get("changed")) for e in audit_log(uow)]
    assert entries == [(RESUME, DONE, True), (PAUSE, DONE, False), (PAUSE, DONE, True)]


def test_a_viewer_cannot_pause_release_or_change_settings(
    uow: FakeUnitOfWorkFactory, clock: FixedClock, doorbell: ValidationDoorbell
) -> None:
    claim_campaign(uow)
    vic = user(Role.VIEWER, "vic")
    with pytest.raises(ActionRefused):
        pause_everything(uow, vic, None, clock=clock)
    with pytest.raises(ActionRefused):
        release_held_campaign(uow, doorbell, vic, CAMPAIGN, clock=clock)
    with pytest.raises(ActionRefused):
        change_campaign_settings(
            uow, ControlConfig(), vic, CAMPAIGN, SettingsForm(max_rewards=5), clock=clock
        )
    assert [e.outcome for e in audit_log(uow)] == [REFUSED, REFUSED, REFUSED]
    with uow() as u:
        assert u.campaign_settings.get(CAMPAIGN) is None
        switch = u.switches.get("pause")
    assert switch is None or not switch.on


def test_a_refused_settings_change_is_audited_with_why(uow: FakeUnitOfWorkFactory, clock: FixedClock) -> None:
    claim_campaign(uow)
    pending_claims(uow, "alice")  # claims exist: the mode is settled
    with pytest.raises(SettingsRefused):
        change_campaign_settings(
            uow, ControlConfig(), user(Role.OPERATOR), CAMPAIGN, SettingsForm(mode="auto"), clock=clock
        )
    (entry,) = audit_log(uow)
    assert (entry.action, entry.outcome, entry.detail["changes"]) == (
        CHANGE_SETTINGS,
        REFUSED,
        {"mode": "auto"},
    )
    assert "mode" in entry.detail["why"]


def test_an_operator_sets_a_limit_and_the_audit_names_the_change(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow)
    form = SettingsForm(max_rewards=50, max_reward_amount=None)
    change_campaign_settings(uow, ControlConfig(), user(Role.OPERATOR), CAMPAIGN, form, clock=clock)
    with uow() as u:
        own = u.campaign_settings.get(CAMPAIGN)
    assert own is not None and own.max_rewards == 50 and own.updated_by == "console:dana"
    (entry,) = audit_log(uow)
    assert entry.detail["changes"] == {"max_rewards": "50", "max_reward_amount": None}
