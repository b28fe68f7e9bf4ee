"""Per-customer entries held as the column of their customers' ids, made only when one is read.

A status call approving a page's 10,000 customers then holds no object per customer from the
database to the wire; code that reads it as a sequence of entries sees what it always saw.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Self, TypeVar, overload

T = TypeVar("T")


class IdColumn(Sequence[T]):
    """A sequence of one entry per id in `customer_ids`; subclasses say what an entry is."""

    __slots__ = ("customer_ids",)

    def __init__(self, customer_ids: Sequence[str]) -> None:
        self.customer_ids = customer_ids

    @abstractmethod
    def entry(self, customer_id: str) -> T:
        """The entry that stands for one customer."""

    @abstractmethod
    def with_ids(self, customer_ids: Sequence[str]) -> Self:
        """The same kind of column over other ids (a slice)."""

    def __len__(self) -> int:
        return len(self.customer_ids)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Self: ...

    def __getitem__(self, index: int | slice) -> T | Self:
        if isinstance(index, slice):
            return self.with_ids(self.customer_ids[index])
        return self.entry(self.customer_ids[index])

    def __iter__(self) -> Iterator[T]:
        return map(self.entry, self.customer_ids)

    def __eq__(self, other: object) -> bool:
        # Equal to the list it stands for, as the list it replaced was.
        if isinstance(other, IdColumn | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable like a list: not hashable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.customer_ids)} customers)"
