"""The UpdateCustomerPromotionStatus body: a page's approvals encoded from their column of ids are
the very bytes the entries encoded one by one give."""

from __future__ import annotations

import orjson
import pytest

from app.adapters.optimove.status_body import encode_status_body
from app.domain.optimove import PromoStatus, SameStatus

STAMP = "2025-05-01 08:30:05"


def _one_by_one(statuses: list[PromoStatus]) -> bytes:
    return orjson.dumps(
        {
            "TimeStamp": STAMP,
            "CampaignID": 1359,
            "PromosUpdated": [{"CustomerID": s.customer_id, "Status": s.status} for s in statuses],
        }
    )


@pytest.mark.parametrize(
    "customer_ids",
    [
        ["C1"],
        ["1001-0030000", "1001-0030001", "1001-0030002"],
        [",", "b"],
        ['x",', "b"],
        ['a","Status":false},{"CustomerID":"b', "c"],
        ["\\", "a\\", '\\"', '"'],
        ["é", "漢字", "𝄞", "\u2028", "\n", "\x00", "\x1f"],
        ["", " ", "null", "{", "}", "[", "]", ":"],
    ],
)
@pytest.mark.parametrize("status", [True, False])
def test_same_status_entries_encode_to_the_bytes_of_each_entry_encoded_alone(
    customer_ids: list[str], status: bool
) -> None:
    statuses = SameStatus(customer_ids, status)

    body = encode_status_body(STAMP, 1359, statuses)

    assert body == _one_by_one(list(statuses))
    assert orjson.loads(body)["PromosUpdated"] == [{"CustomerID": c, "Status": status} for c in customer_ids]


def test_ten_thousand_approvals_encode_like_ten_thousand_entries() -> None:
    customer_ids = [f"1359-{n:07d}" for n in range(10_000)]

    assert encode_status_body(STAMP, 1359, SameStatus(customer_ids, True)) == _one_by_one(
        [PromoStatus(c, True) for c in customer_ids]
    )


def test_entries_of_different_statuses_encode_one_by_one() -> None:
    statuses = [PromoStatus("A", True), PromoStatus("B", False)]

    assert encode_status_body(STAMP, 1359, statuses) == _one_by_one(statuses)


def test_no_entries_encode_an_empty_list() -> None:
    assert orjson.loads(encode_status_body(STAMP, 1359, SameStatus([], True)))["PromosUpdated"] == []
