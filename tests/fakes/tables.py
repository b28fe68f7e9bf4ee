"""The machinery of the in-memory database: tables of immutable rows, and what one transaction sees of them.

A transaction reads the committed rows with its own uncommitted writes on top, as a statement under
PostgreSQL's READ COMMITTED does, so a row another unit of work committed meanwhile is seen, and
its own writes are seen by nobody else until it commits. Writes are kept apart and applied at commit
(thrown away on rollback) row by row, so two units of work that change different rows both keep
their changes, where swapping whole copies would let the last commit erase the other's.

Every row a transaction writes or locks (FOR UPDATE) stays locked until it ends, and so does every
unique key its inserts took. Where PostgreSQL would wait for another open transaction, this
single-threaded fake cannot: it raises WouldBlock. SKIP LOCKED reads pass over rows locked elsewhere.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Hashable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

_NUMERIC_SCALE = Decimal("0.0001")  # the Numeric(18, 4) amount columns


class WouldBlock(RuntimeError):
    """Raised where PostgreSQL would wait for another open transaction (this fake runs on one thread)."""


class TransactionClosed(RuntimeError):
    """Raised when a repository is used after its unit of work ended."""


def json_column(value: object) -> str:
    """A value as a JSON column stores it (a TypeError for what JSON cannot hold, as SQL raises)."""
    return json.dumps(value)


def json_value(stored: str) -> Any:
    """A JSON column read back: a fresh object, so a caller's changes never reach the table."""
    return json.loads(stored)


def numeric_column(amount: Decimal | None) -> Decimal | None:
    """An amount as a Numeric(18, 4) column stores it (rounded half away from zero, as PostgreSQL does)."""
    return None if amount is None else Decimal(amount).quantize(_NUMERIC_SCALE, rounding=ROUND_HALF_UP)


def nulls_last(value: Any) -> tuple[bool, Any]:
    """A sort key ordering None after every value (PostgreSQL's ASC; SQLite puts NULLs first)."""
    return (value is None, value)


class Table(Generic[K, R]):
    """One table: its committed rows by primary key, an id sequence, and the locks open transactions hold.

    `unique` names the row's unique keys other than the primary key; a key with a None part is left
    out, since SQL takes no two NULLs as equal.
    """

    def __init__(
        self, name: str, *, unique: Callable[[R], Iterable[tuple[object, ...]]] = lambda _: ()
    ) -> None:
        self.name = name
        self.rows: dict[K, R] = {}
        self.locks: dict[Hashable, Transaction] = {}
        self._unique = unique
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        """The next value of the table's id sequence (never handed out twice, even if rolled back)."""
        return next(self._ids)

    def unique_keys(self, row: R) -> set[tuple[object, ...]]:
        """The unique keys `row` takes (those with a NULL part take none)."""
        return {key for key in self._unique(row) if None not in key}


class Transaction:
    """One connection's transaction: its views of the tables; after commit() the next write begins anew."""

    def __init__(self) -> None:
        self._views: dict[int, TableView[Any, Any]] = {}
        self.closed = False

    def view(self, table: Table[K, R]) -> TableView[K, R]:
        """The table as this transaction sees it (one view per table, shared by every repository)."""
        view = self._views.get(id(table))
        if view is None:
            view = self._views[id(table)] = TableView(table, self)
        return view

    def commit(self) -> None:
        """Apply every write and release every lock."""
        for view in self._views.values():
            view.apply()

    def rollback(self) -> None:
        """Forget every write and release every lock."""
        for view in self._views.values():
            view.forget()

    def close(self) -> None:
        """Roll back what was not committed; the views refuse any further use."""
        self.rollback()
        self.closed = True


class TableView(Generic[K, R]):
    """A table as one transaction sees it: the committed rows, with its own uncommitted writes on top."""

    def __init__(self, table: Table[K, R], owner: Transaction) -> None:
        self._table = table
        self._owner = owner
        self._writes: dict[K, R] = {}
        self._deleted: set[K] = set()
        self._held: set[Hashable] = set()

    @property
    def table(self) -> Table[K, R]:
        """The underlying table (its sequence and committed rows)."""
        return self._table

    def get(self, key: K) -> R | None:
        """The row with this primary key, or None."""
        self._check_open()
        if key in self._writes:
            return self._writes[key]
        if key in self._deleted:
            return None
        return self._table.rows.get(key)

    def rows(self) -> list[R]:
        """Every row, in the order the rows were first inserted."""
        self._check_open()
        committed = {key: row for key, row in self._table.rows.items() if key not in self._deleted}
        return list({**committed, **self._writes}.values())

    def where(self, predicate: Callable[[R], bool]) -> list[R]:
        """The rows matching `predicate`."""
        return [row for row in self.rows() if predicate(row)]

    def insert(self, key: K, row: R) -> bool:
        """Insert the row unless its primary key or a unique key is taken (ON CONFLICT DO NOTHING)."""
        self._check_open()
        unique = self._table.unique_keys(row)
        entries: list[Hashable] = [("pk", key), *(("unique", entry) for entry in unique)]
        for entry in entries:
            self._wait_for(entry)
        if self.get(key) is not None:
            return False
        if unique and any(unique & self._table.unique_keys(other) for other in self.rows()):
            return False
        for entry in entries:
            self._hold(entry)
        self._writes[key] = row
        self._deleted.discard(key)
        return True

    def delete(self, key: K) -> bool:
        """Delete the row (it stays locked until the transaction ends); False when there was none."""
        if self.get(key) is None:
            return False
        self.lock(key)
        self._writes.pop(key, None)
        self._deleted.add(key)
        return True

    def update(self, key: K, row: R) -> None:
        """Replace an existing row (its primary and unique keys never change); the row stays locked."""
        self._check_open()
        self.lock(key)
        self._writes[key] = row

    def lock(self, key: K) -> None:
        """Lock the row until the transaction ends (SELECT … FOR UPDATE)."""
        self._check_open()
        self._wait_for(("pk", key))
        self._hold(("pk", key))

    def locked_elsewhere(self, key: K) -> bool:
        """Whether another open transaction holds the row (SKIP LOCKED passes over it)."""
        owner = self._table.locks.get(("pk", key))
        return owner is not None and owner is not self._owner

    def apply(self) -> None:
        """Commit: the writes become the table's rows; the locks are released."""
        for key in self._deleted:
            self._table.rows.pop(key, None)
        self._table.rows.update(self._writes)
        self.forget()

    def forget(self) -> None:
        """Roll back: the writes are dropped; the locks are released."""
        self._writes.clear()
        self._deleted.clear()
        for entry in self._held:
            if self._table.locks.get(entry) is self._owner:
                del self._table.locks[entry]
        self._held.clear()

    def _wait_for(self, entry: Hashable) -> None:
        owner = self._table.locks.get(entry)
        if owner is not None and owner is not self._owner:
            raise WouldBlock(
                f"{self._table.name}: {entry} is held by another open unit of work; PostgreSQL would "
                "wait for it to end, which a single-threaded fake cannot"
            )

    def _hold(self, entry: Hashable) -> None:
        self._table.locks[entry] = self._owner
        self._held.add(entry)

    def _check_open(self) -> None:
        if self._owner.closed:
            raise TransactionClosed(f"{self._table.name}: the unit of work has ended")
