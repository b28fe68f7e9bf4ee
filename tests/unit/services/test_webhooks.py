"""Receiving Optimove's listener calls: stored once, a differing one kept apart, bad ones never written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.adapters.optimove.contract import OptimoveEventContract
from app.domain.inbox import Stored
from app.domain.optimove import InvalidCampaignEvent
from app.services.webhooks import DeadlineWindow, ReceivedEvent, UnsupportedEventType, receive_optimove_event
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory

CONTRACT = OptimoveEventContract(ZoneInfo("UTC"))
DEADLINE = "2026-11-25 09:30:00"
WINDOW = DeadlineWindow()  # 7 days back, 90 ahead


def payload(event_type_id: int = 5, *, deadline: str | None = DEADLINE, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "EventTypeID": event_type_id,
        "CampaignID": 1359,
        "TimeStamp": "2026-11-25 08:30",
    }
    if deadline is not None:
        body["ClearanceRequiredBy"] = deadline
    return body | extra


def receive(
    uow: FakeUnitOfWorkFactory, body: dict[str, object], *, window: DeadlineWindow = WINDOW
) -> ReceivedEvent:
    return receive_optimove_event(uow, CONTRACT, body, json.dumps(body), window=window, clock=FixedClock())


def test_an_event_is_stored_once_and_a_redelivery_is_a_duplicate(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    first = receive(uow, payload())
    redelivered = receive(uow, payload(TimeStamp="2026-11-25 08:31"))  # a retry may be stamped anew

    assert first.new and first.stored == Stored.NEW
    assert not redelivered.new and redelivered.stored == Stored.DUPLICATE
    [row] = db.inbox_events.rows.values()
    assert (row.campaign_id, row.event_type_id, row.received_at) == (1359, 5, T0)
    assert json.loads(row.raw_body) == payload()
    assert first.event.clearance_required_by == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def test_an_event_that_differs_from_the_first_of_its_kind_is_a_conflict_kept_apart_and_never_dispatched(
    uow: FakeUnitOfWorkFactory,
) -> None:
    receive(uow, payload())

    forged = receive(uow, payload(deadline="2026-11-25 10:00:00"))

    assert forged.stored == Stored.CONFLICT and not forged.new
    assert forged.differences == {
        "ClearanceRequiredBy": ("2026-11-25T09:30:00+00:00", "2026-11-25T10:00:00+00:00")
    }
    assert receive(uow, payload(deadline="2026-11-25 10:00:00")).stored == Stored.DUPLICATE
    with uow() as u:
        count, [conflict] = u.inbox.conflicts_for(1359)
        dispatched = u.inbox.claim_for_dispatch(now=T0, stale_before=T0, limit=10)
    assert count == 1 and dispatched == [conflict.first_event_id]


def test_a_cancel_event_is_another_kind_and_needs_no_deadline(uow: FakeUnitOfWorkFactory) -> None:
    receive(uow, payload())
    assert receive(uow, payload(4, deadline=None)).new


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"EventTypeID": 5, "ClearanceRequiredBy": DEADLINE}, "CampaignID"),
        (payload(deadline=None), "ClearanceRequiredBy"),
        (payload(deadline="soon"), "ClearanceRequiredBy"),
        (payload(CampaignID=-3), "CampaignID"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field_and_nothing_is_stored(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, body: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidCampaignEvent) as refused:
        receive(uow, body)
    assert refused.value.field == field and not db.inbox_events.rows and uow.opened == 0


def test_an_event_type_promobridge_does_not_handle_is_refused_and_nothing_is_stored(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    with pytest.raises(UnsupportedEventType):
        receive(uow, payload(11))
    assert not db.inbox_events.rows


@pytest.mark.parametrize(
    ("deadline", "accepted"),
    [
        (T0 - timedelta(days=7), True),
        (T0 - timedelta(days=7, seconds=1), False),
        (T0 + timedelta(days=90), True),
        (T0 + timedelta(days=90, seconds=1), False),
    ],
)
def test_a_deadline_is_accepted_only_inside_the_window(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, deadline: datetime, accepted: bool
) -> None:
    body = payload(deadline=deadline.strftime("%Y-%m-%d %H:%M:%S"))
    if accepted:
        assert receive(uow, body).new
    else:
        with pytest.raises(InvalidCampaignEvent, match="outside the accepted window"):
            receive(uow, body)
        assert not db.inbox_events.rows


def test_the_window_is_configurable(uow: FakeUnitOfWorkFactory) -> None:
    tight = DeadlineWindow(past=timedelta(0), ahead=timedelta(minutes=10))
    with pytest.raises(InvalidCampaignEvent):
        receive(uow, payload(), window=tight)  # 30 minutes ahead
    assert receive(uow, payload(deadline="2026-11-25 09:10:00"), window=tight).new
