"""The operator's own customer data (consent, fraud flags, VIP levels) that the policies read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from app.clock import utcnow
from app.domain.audience import OperatorFlags
from app.services.unit_of_work import UnitOfWorkFactory


def load_operator_flags(
    uow_factory: UnitOfWorkFactory,
    rows: Sequence[tuple[str, OperatorFlags]],
    *,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Insert or replace customers' flags, all at once; how many customers were written."""
    with uow_factory() as uow:
        written = uow.operator_data.save(rows, now=clock())
        uow.commit()
    return written
