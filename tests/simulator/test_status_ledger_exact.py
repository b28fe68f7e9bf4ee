"""The status ledger keeps the same records and counters as applying each entry in order would."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.statuses import StatusLedger, StatusRecord, StatusUpdate

SIZE = 50
CLEARANCE = 1000.0


@dataclass
class _EntryByEntry:
    """The contract #8 reading, one entry at a time: the last status wins, every set counts."""

    records: dict[str, StatusRecord] = field(default_factory=dict)
    total_sets: int = 0
    late_sets: int = 0

    def apply(self, updates: list[StatusUpdate], at: float) -> None:
        late = at > CLEARANCE
        for _index, customer_id, status in updates:
            self.total_sets += 1
            self.late_sets += late
            known = self.records.get(customer_id)
            times = 1 if known is None else known.times + 1
            was_late = known is not None and known.late
            self.records[customer_id] = StatusRecord(status, times, at, was_late or late)

    def summary(self, members: set[str]) -> dict[str, int]:
        mine = [record for customer_id, record in self.records.items() if customer_id in members]
        return {
            "customers_set": len(mine),
            "customers_true": sum(record.status for record in mine),
            "customers_set_more_than_once": sum(record.times > 1 for record in mine),
            "total_sets": self.total_sets,
            "late_sets": self.late_sets,
            "unknown_customers": len(self.records) - len(mine),
            "max_times": max((record.times for record in mine), default=0),
        }


def _cid(index: int) -> str:
    return f"C-{index:07d}"


def _members(indices: list[int], status: bool) -> list[StatusUpdate]:
    return [(i, _cid(i), status) for i in indices]


CALLS: list[tuple[list[StatusUpdate], float]] = [
    (_members(list(range(0, 20)), True), 10.0),
    (_members(list(range(10, 30)), False), 20.0),  # half of them set again, to False
    (_members([3, 3, 4, 3], True) + _members([4], False), 30.0),  # repeats within one call
    ([(None, "stranger", True), (None, "stranger", False), (None, "other", True)], 40.0),
    ([*_members([40, 41], True), (None, "stranger", True), *_members([40], False)], 50.0),
    (_members(list(range(5, 15)), True), 2000.0),  # after the clearance deadline
    ([], 3000.0),
    ([*_members([7], False), (None, "late-stranger", False)], 4000.0),
]


def _record_as_columns(ledger: StatusLedger, updates: list[StatusUpdate], at: float) -> None:
    indices, customer_ids, statuses = (
        (list(column) for column in zip(*updates, strict=True)) if updates else ([], [], [])
    )
    ledger.record_call(indices, customer_ids, statuses, at)


def test_records_and_counters_match_applying_each_entry_in_order() -> None:
    by_entry, by_column, reference = (
        StatusLedger(SIZE, CLEARANCE),
        StatusLedger(SIZE, CLEARANCE),
        _EntryByEntry(),
    )
    members = {_cid(i) for i in range(SIZE)}

    for updates, at in CALLS:
        by_entry.record(updates, at)
        _record_as_columns(by_column, updates, at)
        reference.apply(updates, at)

        for ledger in (by_entry, by_column):
            assert ledger.records(_cid) == reference.records
            assert ledger.summary() == reference.summary(members)


def test_records_list_members_by_index_then_unknown_ids_in_arrival_order() -> None:
    ledger = StatusLedger(SIZE, CLEARANCE)

    for updates, at in CALLS:
        ledger.record(updates, at)

    members = sorted({i for updates, _ in CALLS for i, _, _ in updates if i is not None})
    assert list(ledger.records(_cid)) == [_cid(i) for i in members] + ["stranger", "other", "late-stranger"]
