"""A page's attributes kept column by column: read as per-customer mappings, written as their JSON."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.adapters.db.audience import _attributes_json, _copy_lines
from app.adapters.optimove.contract import OptimoveContract
from app.domain.audience import AttributeColumns, CustomerPage, DecidedPage

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


# The COPY text of a decided page, against the plainest way of writing it --------------------------

AWKWARD = st.sampled_from(["a", "b\\c", "tab\there", "new\nline", "cr\rx", "é", "{}", '"q"', "\\N"])
MAYBE = st.none() | AWKWARD


def plain_copy_text(value: str | None) -> str:
    """COPY's text format field by field: NULL as \\N, backslash and control characters escaped."""
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def plain_copy_lines(campaign_id: int, page_no: int, page: DecidedPage) -> str:
    c = page.customers
    return "".join(
        "\t".join(
            [
                str(campaign_id),
                plain_copy_text(c.customer_ids[i]),
                str(page_no),
                "\\N" if c.action_ids[i] is None else str(c.action_ids[i]),
                plain_copy_text(c.promo_codes[i]),
                plain_copy_text(orjson.dumps(dict(c.attributes[i])).decode()),
                plain_copy_text(page.segments[i]),
                "t" if page.eligible[i] else "f",
                plain_copy_text(page.scrub_reasons[i]),
            ]
        )
        + "\n"
        for i in range(len(page))
    )


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            AWKWARD,  # customer id
            st.none() | st.integers(-3, 3),  # action id
            MAYBE,  # promo code
            st.tuples(MAYBE, MAYBE),  # attributes
            MAYBE,  # segment
            MAYBE,  # scrub reason (eligible when None)
        ),
        max_size=30,
    ),
    columns=st.booleans(),
    page_no=st.integers(0, 10**6),
)
def test_a_pages_copy_text_is_each_row_written_field_by_field(
    rows: list[tuple[Any, ...]], columns: bool, page_no: int
) -> None:
    names = ("Consent", 'Odd "\\name"')
    values = [r[3] for r in rows]
    attributes = (
        AttributeColumns(names, [[v[0] for v in values], [v[1] for v in values]], len(rows))
        if columns
        else [dict(zip(names, v, strict=True)) for v in values]
    )
    customers = CustomerPage([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], attributes)
    page = DecidedPage(customers, [r[5] is None for r in rows], [r[5] for r in rows], [r[4] for r in rows])
    assert _copy_lines(4242, page_no, page) == plain_copy_lines(4242, page_no, page)
