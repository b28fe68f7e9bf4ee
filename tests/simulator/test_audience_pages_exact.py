"""A page's JSON text is exactly ``json.dumps`` of the documented rows, whatever the spec and attributes.

The reference rows are built here from the audience's documented definition (the module docstring of
simulator/audience.py), not from its code, so a faster page renderer cannot drift byte by byte.
"""

from __future__ import annotations

import hashlib
import json
import struct
from bisect import bisect_right
from typing import Any

import pytest

from simulator.audience import Audience, AudienceSpec

SEED = 7
COUNTRIES = ("GB", "DE", "SE", "FI", "CA", "BR")
ALL_NAMES = ["Consent", "FraudFlag", "VIPLevel", "Country", "Email"]


def _documented_attributes(spec: AudienceSpec, index: int) -> dict[str, str]:
    digest = hashlib.blake2b(
        f"{SEED}/{spec.campaign_id}/".encode() + index.to_bytes(8, "little"), digest_size=8
    ).digest()
    consent, fraud, vip, country = struct.unpack("<4H", digest)
    total, running, bounds = sum(spec.vip_weights), 0.0, []
    for weight in spec.vip_weights[:-1]:
        running += weight
        bounds.append(round(running / total * 65536))
    return {
        "Consent": "0" if consent < round(spec.no_consent_rate * 65536) else "1",
        "FraudFlag": "1" if fraud < round(spec.fraud_rate * 65536) else "0",
        "VIPLevel": str(bisect_right(bounds, vip)),
        "Country": COUNTRIES[country % 6],
        "Email": f"user{index}@example.test",
    }


def _documented_page(spec: AudienceSpec, skip: int, top: int, names: list[str] | None) -> str:
    rows: list[dict[str, Any]] = []
    for index in range(skip, min(spec.size, skip + top)):
        row: dict[str, Any] = {
            "CustomerID": f"{spec.campaign_id}-{index:07d}",
            "ActionID": spec.action_id,
            "PromoCode": spec.promo_code,
        }
        if names is not None:
            attributes = _documented_attributes(spec, index)
            row["CustomerAttributes"] = [attributes.get(name) for name in names]
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


SPECS = [
    AudienceSpec(campaign_id=1001, size=25, promo_code="PROMO-1001"),
    AudienceSpec(
        campaign_id=77,
        size=3000,
        promo_code='odd "{0}" %s \\ é {{}}',
        action_id=12,
        no_consent_rate=0.5,
        fraud_rate=0.3,
        vip_weights=(0.0, 1.0, 0.0, 2.0),
    ),
    AudienceSpec(campaign_id=5, size=40, promo_code="P", no_consent_rate=1.0, fraud_rate=0.0),
    AudienceSpec(campaign_id=6, size=40, promo_code="Q", no_consent_rate=0.0, fraud_rate=1.0),
    AudienceSpec(campaign_id=1002, size=25_000, promo_code="R", vip_weights=(1.0, 0.0, 0.0, 0.0)),
]
NAME_LISTS: list[list[str] | None] = [
    None,
    [],
    ALL_NAMES,
    ["Email", "NoSuchAttribute", "VIPLevel", "Consent", "Consent", ""],
    ["{0}", "%s"],
]
# Windows across a multiple of 10,000 too (pages may be rendered in blocks of 10,000 indices).
WINDOWS = [(0, 10), (20, 10), (0, 10_000), (2990, 5), (3000, 10), (9_995, 10), (5_000, 10_000), (50_000, 1)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: f"campaign-{spec.campaign_id}")
@pytest.mark.parametrize("names", NAME_LISTS, ids=repr)
def test_page_text_is_json_dumps_of_the_documented_rows(spec: AudienceSpec, names: list[str] | None) -> None:
    audience = Audience(spec, SEED)

    for skip, top in WINDOWS:
        assert audience.page_json(skip, top, names) == _documented_page(spec, skip, top, names)


def test_an_index_past_seven_digits_is_written_with_all_its_digits() -> None:
    spec = AudienceSpec(campaign_id=9, size=10_000_002, promo_code="P")
    audience = Audience(spec, SEED)

    assert audience.page_json(9_999_999, 3, ALL_NAMES) == _documented_page(spec, 9_999_999, 3, ALL_NAMES)
    assert audience.index_of("9-10000001") == 10_000_001


def test_one_customers_attributes_are_the_documented_ones() -> None:
    spec = SPECS[1]
    audience = Audience(spec, SEED)

    for index in (0, 1, 2999):
        assert audience.attributes(index) == _documented_attributes(spec, index)


def test_only_the_canonical_id_of_a_member_has_an_index() -> None:
    audience = Audience(AudienceSpec(campaign_id=1001, size=25, promo_code="P"), SEED)
    # Among them, Arabic-Indic digits: int() reads them, but no id is written with them.
    strangers = [
        "1001-0000025", "1001-1", "1001-00000001", "1001--000001", "1001- 000001", "1001-00_0001",
        "1001-+000001", "1001-" + "\u0660" * 6 + "\u0661", "1002-0000001", "x1001-0000001", "1001-", "",
        "1001-000000a",
    ]  # fmt: skip

    assert [audience.index_of(f"1001-{i:07d}") for i in range(25)] == list(range(25))
    assert [audience.index_of(stranger) for stranger in strangers] == [None] * len(strangers)


def test_a_calls_indices_are_each_ids_index() -> None:
    audience = Audience(AudienceSpec(campaign_id=1001, size=25, promo_code="P"), SEED)
    members = [f"1001-{i:07d}" for i in (3, 0, 24, 3)]
    calls = [[], members, [*members, "1001-0000025"], ["1001-1", *members], [*members, "1001-000000a"]]

    for customer_ids in calls:
        assert list(audience.indices_of(customer_ids)) == [audience.index_of(c) for c in customer_ids]
    assert audience.indices_of(members) == [3, 0, 24, 3]
