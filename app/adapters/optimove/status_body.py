"""The UpdateCustomerPromotionStatus body (ref §6), encoded as JSON bytes.

A relay's call carries up to 10,000 customers: a dict per customer for orjson cost 1.1 ms of the
relay's CPU a call (measured in-process, 10,000 ids). Entries that share one status (a page's
approvals, ``SameStatus``) are encoded from their column of ids instead, in 0.4 ms: orjson escapes
the ids as one list, and the list's separators become the entries' boundaries. The bytes are those
orjson writes for the dicts.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from app.domain.optimove import PromoStatus, SameStatus

__all__ = ["encode_status_body"]

# orjson writes a list of n strings as ["a","b"]: when its only quotes are the 2n around the ids and
# its only commas the n - 1 between them (no id holds either), every `","` is a boundary.
_BETWEEN_IDS = b'","'


def encode_status_body(timestamp: str, campaign_id: int, statuses: Sequence[PromoStatus]) -> bytes:
    """The JSON body reporting `statuses` of campaign `campaign_id` at `timestamp` (already formatted)."""
    if isinstance(statuses, SameStatus) and statuses.customer_ids:
        count = len(statuses.customer_ids)
        ids = orjson.dumps(list(statuses.customer_ids))
        if ids.count(b'"') == 2 * count and ids.count(b",") == count - 1:
            return _encode_same_status(timestamp, campaign_id, ids, statuses.status)
    return orjson.dumps(
        {
            "TimeStamp": timestamp,
            "CampaignID": campaign_id,
            "PromosUpdated": [{"CustomerID": item.customer_id, "Status": item.status} for item in statuses],
        }
    )


def _encode_same_status(timestamp: str, campaign_id: int, ids: bytes, status: bool) -> bytes:
    """`ids` is orjson's list of the customer ids, none holding a quote or a comma."""
    end_of_entry = b',"Status":' + orjson.dumps(status) + b"}"
    entries = ids.replace(_BETWEEN_IDS, b'"' + end_of_entry + b',{"CustomerID":"')
    head = orjson.dumps({"TimeStamp": timestamp, "CampaignID": campaign_id, "PromosUpdated": None})
    # head ends with `null}`: the entries, without the list's brackets, take the place of the null.
    parts = (head[: -len(b"null}")], b'[{"CustomerID":', memoryview(entries)[1:-1], end_of_entry, b"]}")
    return b"".join(parts)
