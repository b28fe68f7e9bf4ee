"""A page batch's customers held as one column of ids read like the entries and pairs they stand for."""

from __future__ import annotations

from app.domain.optimove import PromoStatus, SameStatus
from app.domain.outbox import PAGE_APPROVALS, PROMOTION_STATUS, ApprovedCustomers, ClaimedBatch

IDS = ["a", "b", "c"]


def test_same_status_reads_as_one_entry_per_customer() -> None:
    statuses = SameStatus(IDS, True)

    assert len(statuses) == 3
    assert list(statuses) == [PromoStatus("a", True), PromoStatus("b", True), PromoStatus("c", True)]
    assert statuses[1] == PromoStatus("b", True)
    assert statuses[-1] == PromoStatus("c", True)
    assert list(statuses[1:]) == [PromoStatus("b", True), PromoStatus("c", True)]
    assert isinstance(statuses[:2], SameStatus)
    assert PromoStatus("c", True) in statuses and PromoStatus("c", False) not in statuses


def test_approved_customers_read_as_pairs_of_id_and_true() -> None:
    customers = ApprovedCustomers(IDS)

    assert len(customers) == 3
    assert list(customers) == [("a", True), ("b", True), ("c", True)]
    assert customers[0] == ("a", True)
    assert list(customers[:1]) == [("a", True)]
    assert {customer_id for customer_id, _ in customers} == set(IDS)


def _batch(kind: str, customers: ApprovedCustomers | list[tuple[str, bool]]) -> ClaimedBatch:
    return ClaimedBatch(
        lease_id="lease", campaign_id=7, kind=kind, deadline=None, customers=customers, previously_sent=0
    )


def test_a_page_batch_reports_its_approvals_as_one_column() -> None:
    statuses = _batch(PAGE_APPROVALS, ApprovedCustomers(IDS)).statuses()

    assert isinstance(statuses, SameStatus) and statuses.customer_ids == IDS and statuses.status is True
    assert list(statuses) == [PromoStatus(c, True) for c in IDS]


def test_a_batch_of_single_rows_reports_each_row_status() -> None:
    batch = _batch(PROMOTION_STATUS, [("a", True), ("b", False)])

    assert batch.statuses() == [PromoStatus("a", True), PromoStatus("b", False)]


def test_columns_equal_the_lists_they_stand_for() -> None:
    assert ApprovedCustomers(IDS) == ApprovedCustomers(list(IDS)) == [("a", True), ("b", True), ("c", True)]
    the_list = [("a", True), ("b", True), ("c", True)]
    assert the_list == ApprovedCustomers(IDS)  # the list on the left, as a test would write it
    assert ApprovedCustomers(IDS) != ApprovedCustomers(["a"])
    assert SameStatus(IDS, True) == [PromoStatus(c, True) for c in IDS]
    assert SameStatus(IDS, True) != SameStatus(IDS, False)
