"""Reading what Optimove sends us: timestamps and listener notifications (EventTypeID 5 and 4)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.adapters.optimove.contract import (
    CampaignEvent,
    InvalidCampaignEvent,
    OptimoveContract,
    parse_campaign_event,
    parse_optimove_timestamp,
)

BERLIN = ZoneInfo("Europe/Berlin")  # UTC+2 in May
NINE_BERLIN_IN_UTC = datetime(2025, 5, 1, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-01 09:00", NINE_BERLIN_IN_UTC),
        ("2025-05-01 09:00:00", NINE_BERLIN_IN_UTC),
        ("2025-05-01T09:00:00", NINE_BERLIN_IN_UTC),
        ("2025-05-01T09:00", NINE_BERLIN_IN_UTC),
        ("2025/05/01 09:00", NINE_BERLIN_IN_UTC),
        ("2025-5-1 9:00", NINE_BERLIN_IN_UTC),
        ("  2025-05-01 09:00:00  ", NINE_BERLIN_IN_UTC),
        ("2025-05-01 09:00:00.250", datetime(2025, 5, 1, 7, 0, 0, 250_000, tzinfo=UTC)),
        ("2025-05-01T09:00:00.123456789", datetime(2025, 5, 1, 7, 0, 0, 123_456, tzinfo=UTC)),
        ("2025-05-01T07:00:00Z", NINE_BERLIN_IN_UTC),
        ("2025-05-01 07:00:00 UTC", NINE_BERLIN_IN_UTC),
        ("2025-05-01T09:00:00+02:00", NINE_BERLIN_IN_UTC),
        ("2025-05-01T02:30:00-0430", NINE_BERLIN_IN_UTC),
        ("2025-01-15 09:00", datetime(2025, 1, 15, 8, 0, tzinfo=UTC)),  # winter: UTC+1
        (1746082800, NINE_BERLIN_IN_UTC),
        (1746082800.5, datetime(2025, 5, 1, 7, 0, 0, 500_000, tzinfo=UTC)),
        ("1746082800", NINE_BERLIN_IN_UTC),
    ],
)
def test_timestamps_are_read_leniently_into_aware_utc(value: str | int | float, expected: datetime) -> None:
    parsed = parse_optimove_timestamp(value, BERLIN)

    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "tomorrow",
        "2025-05-01",  # a date alone would silently mean midnight
        "01/05/2025 09:00",  # day-first or month-first: ambiguous
        "2025-13-01 09:00",
        "2025-02-30 09:00",
        "2025-05-01 25:00",
        "2025-05-01 09:00+25:00",
        "2025-05-01 09:00 CEST",
        -5,
        float("nan"),
        float("inf"),
        True,
    ],
)
def test_unreadable_timestamps_raise_value_error(value: str | int | float) -> None:
    with pytest.raises(ValueError):
        parse_optimove_timestamp(value, BERLIN)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {
                "EventTypeID": 5,
                "CampaignID": 1359,
                "TimeStamp": "2025-05-01 08:30",
                "ClearanceRequiredBy": "2025-05-01 09:00",
            },
            CampaignEvent(5, 1359, datetime(2025, 5, 1, 6, 30, tzinfo=UTC), NINE_BERLIN_IN_UTC, {}),
        ),
        (
            {"eventTypeId": "5", "campaignId": "1359", "clearanceRequiredBy": "2025-05-01T07:00:00Z"},
            CampaignEvent(5, 1359, None, NINE_BERLIN_IN_UTC, {}),
        ),
        (
            {"event_type_id": 5, "campaign_id": 1359, "clearance_required_by": 1746082800, "ChannelID": 3},
            CampaignEvent(5, 1359, None, NINE_BERLIN_IN_UTC, {"ChannelID": 3}),
        ),
        (
            {"EventTypeID": 4, "CampaignID": 77, "TimeStamp": "2025-05-01 08:30", "EngagementID": 1},
            CampaignEvent(4, 77, datetime(2025, 5, 1, 6, 30, tzinfo=UTC), None, {"EngagementID": 1}),
        ),
        (
            {"EventTypeID": 4, "CampaignID": 77, "TimeStamp": "not a time"},
            CampaignEvent(4, 77, None, None, {"TimeStamp": "not a time"}),
        ),
        (
            {
                "EventTypeID": 5.0,
                "CampaignID": 1359,
                "ClearanceRequiredBy": "2025-05-01 09:00",
                "TimeStamp": "",
            },
            CampaignEvent(5, 1359, None, NINE_BERLIN_IN_UTC, {}),
        ),
    ],
    ids=[
        "documented-shape",
        "camel-case-strings",
        "snake-case-epoch-extra",
        "canceled",
        "bad-timestamp-kept",
        "float-id",
    ],
)
def test_campaign_events_are_parsed(payload: dict[str, object], expected: CampaignEvent) -> None:
    assert parse_campaign_event(payload, BERLIN) == expected


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (
            {"CampaignID": 1, "ClearanceRequiredBy": "2025-05-01 09:00"},
            "EventTypeID",
            "EventTypeID is missing",
        ),
        ({"EventTypeID": None, "CampaignID": 1}, "EventTypeID", "EventTypeID is missing"),
        ({"EventTypeID": "five", "CampaignID": 1}, "EventTypeID", "EventTypeID must be an integer"),
        ({"EventTypeID": True, "CampaignID": 1}, "EventTypeID", "boolean"),
        ({"EventTypeID": 4}, "CampaignID", "CampaignID is missing"),
        ({"EventTypeID": 4, "CampaignID": ""}, "CampaignID", "CampaignID is missing"),
        ({"EventTypeID": 4, "CampaignID": 0}, "CampaignID", "positive"),
        ({"EventTypeID": 4, "CampaignID": "-3"}, "CampaignID", "positive"),
        ({"EventTypeID": 4, "CampaignID": 2**63}, "CampaignID", "no larger than 9223372036854775807"),
        ({"EventTypeID": 4, "CampaignID": 1e20}, "CampaignID", "no larger than"),
        ({"EventTypeID": 4, "CampaignID": -(2**70)}, "CampaignID", "positive"),
        ({"EventTypeID": 2**63, "CampaignID": 1}, "EventTypeID", "no larger than"),
        ({"EventTypeID": 4, "CampaignID": 1.5}, "CampaignID", "must be an integer"),
        ({"EventTypeID": 4, "CampaignID": [1]}, "CampaignID", "must be an integer"),
        ({"EventTypeID": 5, "CampaignID": 1}, "ClearanceRequiredBy", "requires ClearanceRequiredBy"),
        ({"EventTypeID": 5, "CampaignID": 1, "ClearanceRequiredBy": ""}, "ClearanceRequiredBy", "requires"),
        (
            {"EventTypeID": 5, "CampaignID": 1, "ClearanceRequiredBy": "soon"},
            "ClearanceRequiredBy",
            "not a date-time",
        ),
        (
            {"EventTypeID": 4, "CampaignID": 1, "ClearanceRequiredBy": {"at": 1}},
            "ClearanceRequiredBy",
            "not a date",
        ),
        ({"EventTypeID": 4, "CampaignID": 1, "campaignId": 2}, "CampaignID", "twice"),
    ],
)
def test_invalid_campaign_events_say_which_field_is_wrong(
    payload: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InvalidCampaignEvent, match=message) as caught:
        parse_campaign_event(payload, BERLIN)

    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_a_non_object_event_body_is_invalid() -> None:
    with pytest.raises(InvalidCampaignEvent, match="JSON object"):
        parse_campaign_event([{"EventTypeID": 5}], BERLIN)  # type: ignore[arg-type]


def test_unreadable_listener_lists_raise_value_error() -> None:
    contract = OptimoveContract()

    for body in ("listeners", {"a": [1], "b": [2]}, [{"EventTypeID": 5}], [42], {"Listeners": "none"}):
        with pytest.raises(ValueError):
            contract.parse_registered_listeners(body)


def test_customer_attributes_may_also_arrive_as_an_object_or_a_delimited_string() -> None:
    contract = OptimoveContract()
    names = ["Alias", "Country"]

    as_object = contract.parse_customer_row(
        {"CustomerID": "C1", "CustomerAttributes": {"country": "UA", "Alias": "x"}}, names
    )
    as_string = contract.parse_customer_row({"CustomerID": "C1", "CustomerAttributes": "x;UA"}, names)
    missing = contract.parse_customer_row({"CustomerID": "C1"}, names)

    assert as_object.attributes == as_string.attributes == {"Alias": "x", "Country": "UA"}
    assert missing.attributes == {"Alias": None, "Country": None}


EXACT_ROWS: list[object] = [
    {"CustomerID": "C1", "ActionID": 4, "PromoCode": "P", "CustomerAttributes": ["x", "UA"]},
    {"CustomerID": "C2", "ActionID": None, "PromoCode": None, "CustomerAttributes": [None, "SE"]},
]


@pytest.mark.parametrize(
    "odd_row",
    [
        None,
        {"CustomerID": 42, "ActionID": "5", "PromoCode": "", "CustomerAttributes": "y;DE"},
        {"customerId": " C3 ", "CustomerAttributes": {"country": "FI"}},
        {"CustomerID": "C3", "ActionID": 5.0, "CustomerAttributes": [1, False]},
    ],
    ids=["documented rows only", "numbers as strings", "other casing", "other types"],
)
def test_a_page_read_column_by_column_holds_what_reading_it_row_by_row_gives(odd_row: object) -> None:
    contract, names = OptimoveContract(), ["Alias", "Country"]
    rows = EXACT_ROWS + ([] if odd_row is None else [odd_row])
    expected = [contract.parse_customer_row(row, names) for row in rows]

    page = contract.parse_customer_page(rows, names)

    assert list(page.customer_ids) == [c.customer_id for c in expected]
    assert list(page.action_ids) == [c.action_id for c in expected]
    assert list(page.promo_codes) == [c.promo_code for c in expected]
    assert [dict(a) for a in page.attributes] == [c.attributes for c in expected]


def test_a_page_with_a_malformed_row_raises_value_error() -> None:
    with pytest.raises(ValueError):
        OptimoveContract().parse_customer_page([*EXACT_ROWS, {"ActionID": 1}], ["Alias", "Country"])
