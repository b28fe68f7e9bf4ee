"""Exact customer pages read straight from bytes: the same columns as the general path, or None."""

from __future__ import annotations

import json
from dataclasses import replace

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.adapters.optimove.contract import OptimoveContract
from app.adapters.optimove.page_decoder import ExactPageDecoder
from app.domain.audience import AttributeColumns
from simulator.audience import Audience, AudienceSpec

NAMES = ("Consent", "FraudFlag", "VIPLevel", "Country")
CONTRACT = OptimoveContract()
DECODER = ExactPageDecoder(CONTRACT)


def _general(body: bytes, names: tuple[str, ...], contract: OptimoveContract = CONTRACT) -> object:
    return contract.parse_customer_page(orjson.loads(body), names)


@pytest.mark.parametrize("names", [NAMES, (), ("VIPLevel",)])
def test_a_simulator_page_is_read_into_the_same_columns_as_the_general_path(names: tuple[str, ...]) -> None:
    audience = Audience(AudienceSpec(campaign_id=7, size=30_000, promo_code="SPIN"), seed=3)
    body = audience.page_json(10_000, 10_000, list(names) if names else None).encode()
    page = DECODER.decode(body, names)
    assert page is not None
    assert page == _general(body, names)
    assert len(page) == 10_000 and page.customer_ids[0] == "7-0010000"
    assert isinstance(page.attributes, AttributeColumns) and page.attributes.names == names


def test_field_names_come_from_the_contract() -> None:
    contract = replace(
        CONTRACT,
        customer_id_field="Id",
        action_id_field="Action",
        promo_code_field="Code",
        customer_attributes_field="Attrs",
    )
    body = json.dumps([{"Id": "c1", "Action": 4, "Code": "X", "Attrs": ["1"]}]).encode()
    page = ExactPageDecoder(contract).decode(body, ("Consent",))
    assert page is not None and page == _general(body, ("Consent",), contract)
    assert page.customer_ids == ["c1"] and page.action_ids == [4] and page.promo_codes == ["X"]
    assert DECODER.decode(body, ("Consent",)) is None  # under the default names it has no id


@pytest.mark.parametrize(
    "rows",
    [
        [{"CustomerID": "", "ActionID": 1, "PromoCode": "P", "CustomerAttributes": ["1"]}],
        [{"CustomerID": 17, "ActionID": 1, "PromoCode": "P", "CustomerAttributes": ["1"]}],
        [{"ActionID": 1, "PromoCode": "P", "CustomerAttributes": ["1"]}],
        [{"CustomerID": "a", "ActionID": True, "PromoCode": "P", "CustomerAttributes": ["1"]}],
        [{"CustomerID": "a", "ActionID": 1.0, "PromoCode": "P", "CustomerAttributes": ["1"]}],
        [{"CustomerID": "a", "ActionID": "1", "PromoCode": "P", "CustomerAttributes": ["1"]}],
        [{"CustomerID": "a", "ActionID": 1, "PromoCode": "", "CustomerAttributes": ["1"]}],
        [{"CustomerID": "a", "ActionID": 1, "PromoCode": 5, "CustomerAttributes": ["1"]}],
        [{"CustomerID": "a", "ActionID": 1, "PromoCode": "P"}],
        [{"CustomerID": "a", "ActionID": 1, "PromoCode": "P", "CustomerAttributes": None}],
        [{"CustomerID": "a", "ActionID": 1, "PromoCode": "P", "CustomerAttributes": ["1", "2"]}],
        [{"CustomerID": "a", "ActionID": 1, "PromoCode": "P", "CustomerAttributes": [1]}],
        ["a"],
        [None],
    ],
)
def test_a_page_that_is_not_exact_is_left_to_the_general_path(rows: list[object]) -> None:
    assert DECODER.decode(json.dumps(rows).encode(), ("Consent",)) is None


@pytest.mark.parametrize("body", [b"", b"{}", b'"an error"', b"[", b"NaN", b'{"Value": []}'])
def test_a_body_that_is_not_a_list_of_rows_is_left_to_the_general_path(body: bytes) -> None:
    assert DECODER.decode(body, NAMES) is None


def test_an_empty_page_is_empty_columns() -> None:
    assert DECODER.decode(b"[]", NAMES) == _general(b"[]", NAMES)


_text = st.one_of(st.none(), st.text(max_size=4), st.integers(-3, 3), st.booleans())
_row = st.fixed_dictionaries(
    {"CustomerID": _text},
    optional={
        "ActionID": st.one_of(_text, st.floats(allow_nan=False)),
        "PromoCode": _text,
        "CustomerAttributes": st.one_of(st.none(), st.lists(_text, max_size=3)),
        "Extra": _text,
    },
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_row, max_size=4), names=st.sampled_from([(), ("A",), ("A", "B")]))
def test_whatever_it_reads_it_reads_as_the_general_path_does(
    rows: list[dict[str, object]], names: tuple[str, ...]
) -> None:
    body = json.dumps(rows).encode()
    page = DECODER.decode(body, names)
    if page is not None:
        assert page == _general(body, names)
