"""Bulk audience writes keep every value intact, whatever characters Optimove sends."""

from __future__ import annotations

from sqlalchemy import Engine, select

from app.adapters.db.tables import campaign_audience
from app.adapters.optimove.contract import OptimoveContract
from app.domain.audience import Candidate, Decision
from app.policies.base import PolicyPipeline
from tests.support.uow import reading, writing

AWKWARD = ["tab\there", "new\nline", "back\\slash", "carriage\rreturn", 'quote"d', "ünïcødé ✓", r"\N", ""]


def test_awkward_values_survive_the_copy_round_trip(any_engine: Engine) -> None:
    decisions = [
        Decision(
            Candidate(f"cust{value}{i}", value or None, i, {"Note": value, "Empty": None}),
            i % 2 == 0,
            None if i % 2 == 0 else value or "reason",
            value or None,
        )
        for i, value in enumerate(AWKWARD)
    ]
    with writing(any_engine) as uow:
        counts = uow.audience.write_page(9, 0, decisions)
    assert (counts.rows, counts.eligible) == (len(AWKWARD), 4)
    with reading(any_engine) as uow:
        rows = (
            uow.connection.execute(select(campaign_audience).order_by(campaign_audience.c.action_id))
            .mappings()
            .all()
        )
    for decision, row in zip(decisions, rows, strict=True):
        candidate = decision.candidate
        assert row["customer_id"] == candidate.customer_id
        assert row["promo_code"] == candidate.promo_code
        assert row["attributes"] == dict(candidate.attributes)
        assert (row["segment"], row["scrub_reason"], row["eligible"]) == (
            decision.segment,
            decision.scrub_reason,
            decision.eligible,
        )


def test_awkward_values_read_column_by_column_survive_the_copy_round_trip(any_engine: Engine) -> None:
    names = ("Note", "Empty", "100%")
    rows: list[object] = [
        {"CustomerID": f"c{i}", "ActionID": i, "PromoCode": "P", "CustomerAttributes": [value, None, "%s"]}
        for i, value in enumerate(AWKWARD)
    ]
    page = OptimoveContract().parse_customer_page(rows, names)
    decided = PolicyPipeline([]).decide_page(page, {})
    with writing(any_engine) as uow:
        assert uow.audience.write_page(9, 0, decided).rows == len(AWKWARD)
    with reading(any_engine) as uow:
        stored = uow.audience.decisions_page(9, after=None, limit=100)
    by_id = {d.candidate.customer_id: dict(d.candidate.attributes) for d in stored}
    assert by_id == {f"c{i}": {"Note": v, "Empty": None, "100%": "%s"} for i, v in enumerate(AWKWARD)}
