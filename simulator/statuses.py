"""What UpdateCustomerPromotionStatus told the simulator about one campaign's customers.

Kept in flat arrays indexed by audience position (1 + 4 + 8 + 1 bytes per customer, ~14 MB for a
million) rather than a dict of objects, so a large campaign costs little and the inspection API can
answer "was anyone set twice?" in one pass. Ids outside the audience go to a small dict.
"""

from __future__ import annotations

import threading
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, itemgetter, setitem
from typing import Any, cast

_NEVER_SET = 0
_SET_FALSE = 1
_SET_TRUE = 2
_CODE_OF_STATUS = (_SET_FALSE, _SET_TRUE)  # indexed by the status, a bool


@dataclass
class StatusRecord:
    """One customer's reported status: the last value, how often it was set, and when."""

    status: bool
    times: int
    last_set_at: float  # seconds since the epoch, simulator clock
    late: bool  # at least one set arrived after ClearanceRequiredBy

    def to_json(self) -> dict[str, Any]:
        """The inspection API's view of this record."""
        return {
            "status": self.status,
            "times": self.times,
            "late": self.late,
            "last_set_at": self.last_set_at,
        }


# (audience index or None for an unknown id, customer id, status)
StatusUpdate = tuple[int | None, str, bool]


class StatusLedger:
    """Last-write-wins status per customer (contract #8), with counters kept as sets arrive.

    The counters ``customers_*`` and ``max_times`` describe audience members only; ``total_sets`` and
    ``late_sets`` count every entry received, unknown ids included; ``unknown_customers`` counts
    distinct ids that are not in the audience.
    """

    def __init__(self, size: int, clearance_epoch: float) -> None:
        self._clearance_epoch = clearance_epoch
        self._lock = threading.Lock()
        self._status = bytearray(size)
        self._times = array("I", bytes(4 * size))
        self._last_set_at = array("d", bytes(8 * size))
        self._late = bytearray(size)
        self._unknown: dict[str, StatusRecord] = {}
        self._customers_set = 0
        self._customers_true = 0
        self._set_more_than_once = 0
        self._total_sets = 0
        self._late_sets = 0
        self._max_times = 0

    def record(self, updates: Iterable[StatusUpdate], at: float) -> None:
        """Apply one call's ``PromosUpdated`` as received at ``at`` (epoch seconds)."""
        late = at > self._clearance_epoch
        with self._lock:
            for index, customer_id, status in updates:
                self._total_sets += 1
                self._late_sets += late
                if index is None:
                    self._record_unknown(customer_id, status, at, late)
                else:
                    self._record_member(index, status, at, late)

    def record_call(
        self, indices: Sequence[int | None], customer_ids: Sequence[str], statuses: Sequence[bool], at: float
    ) -> None:
        """``record`` for one call given as columns; the same ledger whichever way it is applied.

        A call naming distinct members only (what the integration sends) is applied column at once:
        with no index twice, reading every previous value first and then writing every new one is the
        same as applying the entries in order. Any other call is applied entry by entry.
        """
        if None in indices or len(set(indices)) != len(indices):
            self.record(zip(indices, customer_ids, statuses, strict=True), at)
            return
        late = at > self._clearance_epoch
        with self._lock:
            self._record_distinct_members(cast(Sequence[int], indices), statuses, at, late)
            self._total_sets += len(indices)
            self._late_sets += len(indices) * late

    def _record_distinct_members(
        self, indices: Sequence[int], statuses: Sequence[bool], at: float, late: bool
    ) -> None:
        if not indices:
            return
        previous = bytes(_gather(self._status, indices))
        self._customers_set += previous.count(_NEVER_SET)
        self._customers_true += statuses.count(True) - previous.count(_SET_TRUE)
        _scatter(self._status, indices, map(_CODE_OF_STATUS.__getitem__, statuses))
        times = list(map(add, _gather(self._times, indices), repeat(1)))
        self._set_more_than_once += times.count(2)
        self._max_times = max(self._max_times, max(times))
        _scatter(self._times, indices, times)
        _scatter(self._last_set_at, indices, repeat(at))
        if late:
            _scatter(self._late, indices, repeat(1))

    def _record_member(self, index: int, status: bool, at: float, late: bool) -> None:
        previous = self._status[index]
        if previous == _NEVER_SET:
            self._customers_set += 1
        self._customers_true += (status is True) - (previous == _SET_TRUE)
        self._status[index] = _SET_TRUE if status else _SET_FALSE
        times = self._times[index] + 1
        self._times[index] = times
        if times == 2:
            self._set_more_than_once += 1
        self._max_times = max(self._max_times, times)
        self._last_set_at[index] = at
        if late:
            self._late[index] = 1

    def _record_unknown(self, customer_id: str, status: bool, at: float, late: bool) -> None:
        known = self._unknown.get(customer_id)
        if known is None:
            self._unknown[customer_id] = StatusRecord(status=status, times=1, last_set_at=at, late=late)
            return
        known.status = status
        known.times += 1
        known.last_set_at = at
        known.late = known.late or late

    def summary(self) -> dict[str, int]:
        """Counters for the inspection API (see the class docstring for what each covers)."""
        with self._lock:
            return {
                "customers_set": self._customers_set,
                "customers_true": self._customers_true,
                "customers_set_more_than_once": self._set_more_than_once,
                "total_sets": self._total_sets,
                "late_sets": self._late_sets,
                "unknown_customers": len(self._unknown),
                "max_times": self._max_times,
            }

    def records(self, customer_id: Callable[[int], str]) -> dict[str, StatusRecord]:
        """Every customer ever set, members named by ``customer_id(index)``, plus unknown ids."""
        with self._lock:
            result = {
                customer_id(i): StatusRecord(
                    status=self._status[i] == _SET_TRUE,
                    times=self._times[i],
                    last_set_at=self._last_set_at[i],
                    late=bool(self._late[i]),
                )
                for i in compress(range(len(self._status)), self._status)
            }
            for unknown_id, record in self._unknown.items():
                result[unknown_id] = StatusRecord(
                    record.status, record.times, record.last_set_at, record.late
                )
            return result


def _gather(source: bytearray | array[Any], indices: Sequence[int]) -> tuple[Any, ...]:
    """``source[i]`` for each of ``indices`` (at least one), in C."""
    if len(indices) == 1:
        return (source[indices[0]],)  # itemgetter of one index answers the item, not a tuple
    values: tuple[Any, ...] = itemgetter(*indices)(source)
    return values


def _scatter(target: bytearray | array[Any], indices: Iterable[int], values: Iterable[Any]) -> None:
    """``target[i] = value`` for each pair, in C (the deque drops the setters' None results)."""
    deque(map(setitem, repeat(target), indices, values), maxlen=0)
