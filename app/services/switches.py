"""The global switches as the workers read them: once per batch, from the database (no cache).

A switch changed by any process (the CLI, the admin API) is seen by every worker at its next
validation call, activation round or relay batch, that is within seconds, with no restart.
"""

from __future__ import annotations

from app.domain.safeguards import PAUSE_SWITCH
from app.services.unit_of_work import UnitOfWork


def is_paused(uow: UnitOfWork) -> bool:
    """Whether the global pause is on."""
    switch = uow.switches.get(PAUSE_SWITCH)
    return switch is not None and switch.on
