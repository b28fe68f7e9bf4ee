"""A page's attributes kept column by column: read as per-customer mappings, written as their JSON."""

from __future__ import annotations

import orjson
import pytest

from app.adapters.db.audience import _attributes_json
from app.adapters.optimove.contract import OptimoveContract
from app.domain.audience import AttributeColumns, CustomerPage

NAMES = ("Consent", 'Odd "{name}"', "VIPLevel")
COLUMNS = (("1", None, "0"), ("{}", "\\", "é\n"), (None, "2", "3"))


def test_columns_read_as_a_sequence_of_each_customers_mapping() -> None:
    rows = AttributeColumns(NAMES, COLUMNS, 3)
    as_dicts = [dict(zip(NAMES, values, strict=True)) for values in zip(*COLUMNS, strict=True)]

    assert len(rows) == 3 and list(rows) == as_dicts and rows == as_dicts
    assert rows[-1] == as_dicts[-1] and rows[1:] == as_dicts[1:]
    assert rows.column("VIPLevel") == (None, "2", "3")
    assert list(rows.column("not asked for")) == [None, None, None]
    with pytest.raises(IndexError):
        rows[3]
    with pytest.raises(ValueError):
        AttributeColumns(NAMES, COLUMNS[:2], 3)  # a column per name
    with pytest.raises(ValueError):
        AttributeColumns(("a",), (("x",),), 2)  # each as long as the page


def test_a_page_of_columns_gives_a_policy_the_column_it_reads() -> None:
    page = CustomerPage(["c1", "c2", "c3"], [1, 2, 3], ["P"] * 3, AttributeColumns(NAMES, COLUMNS, 3))
    assert page.column("Consent") == ("1", None, "0")
    assert page.candidate(1).attributes == {"Consent": None, 'Odd "{name}"': "\\", "VIPLevel": "2"}


def test_a_documented_page_is_read_into_columns_and_one_without_attributes_into_empty_mappings() -> None:
    rows: list[object] = [
        {"CustomerID": "C1", "ActionID": 4, "PromoCode": "P", "CustomerAttributes": ["x", "UA"]},
        {"CustomerID": "C2", "ActionID": None, "PromoCode": None, "CustomerAttributes": [None, "SE"]},
    ]
    page = OptimoveContract().parse_customer_page(rows, ["Alias", "Country"])
    bare = OptimoveContract().parse_customer_page([{"CustomerID": "C1", "ActionID": 1, "PromoCode": "P"}], [])

    assert isinstance(page.attributes, AttributeColumns) and page.column("Country") == ("UA", "SE")
    assert list(bare.attributes) == [{}] and _attributes_json(bare.attributes) == ["{}"]


def test_the_columns_json_is_the_text_orjson_writes_for_each_customers_mapping() -> None:
    rows = AttributeColumns(NAMES, COLUMNS, 3)
    expected = [orjson.dumps(mapping).decode() for mapping in list(rows)]

    assert _attributes_json(rows) == expected
    assert _attributes_json(list(rows)) == expected  # the same from mappings
