"""first_in_order: a page's next customer ids read as one column, the same on both databases as a
row each would give, whatever the ids hold."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert, select

from app.adapters.db.dialect import first_in_order
from app.adapters.db.tables import campaign_audience

# Characters PostgreSQL's array text format quotes or escapes, and ids that look like its NULL.
AWKWARD_IDS = ["NULL", "null", "", " ", "a,b", '"q"', "{x}", "back\\slash", "é", "漢字", "t\ta", "z"]


def _audience(engine: Engine, customer_ids: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(campaign_audience),
            [
                {"campaign_id": 7, "customer_id": c, "page_no": 0, "eligible": c[:1] != "C" or n % 2 == 0}
                for n, c in enumerate(customer_ids)
            ],
        )


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_the_first_values_in_order_are_those_a_row_each_gives(any_engine: Engine, limit: int) -> None:
    _audience(any_engine, AWKWARD_IDS + [f"C{n:03d}" for n in range(40)])
    a = campaign_audience.c
    eligible = [a.campaign_id == 7, a.eligible.is_(True), a.customer_id > " "]

    with any_engine.connect() as conn:
        row_each = list(
            conn.execute(
                select(a.customer_id).where(*eligible).order_by(a.customer_id).limit(limit)
            ).scalars()
        )
        values = first_in_order(conn, a.customer_id, eligible, limit=limit)

    assert values == row_each and len(values) == min(limit, len(row_each))
    if limit == 100:
        assert set(AWKWARD_IDS) - {"", " "} <= set(values)
    assert all(isinstance(v, str) for v in values)


def test_no_rows_are_an_empty_list(any_engine: Engine) -> None:
    with any_engine.connect() as conn:
        assert (
            first_in_order(
                conn, campaign_audience.c.customer_id, [campaign_audience.c.campaign_id == 8], limit=5
            )
            == []
        )
