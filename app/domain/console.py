"""Console users, what each role may do, and the audit trail of their actions (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """What a console user may do: a viewer reads, an operator also acts."""

    VIEWER = "viewer"
    OPERATOR = "operator"


def may_act(role: Role) -> bool:
    """Whether a user with `role` may take actions (retry claims, and the actions issue 11 adds)."""
    return role == Role.OPERATOR


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A person who signs in to the console; only a hash of their password is kept."""

    id: int
    name: str
    role: Role
    password_hash: str
    failed_sign_ins: int
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None
    disabled_at: datetime | None

    @property
    def disabled(self) -> bool:
        """A disabled user cannot sign in, and their open sessions stop working."""
        return self.disabled_at is not None


@dataclass(frozen=True, slots=True)
class NewConsoleUser:
    """A console user to store."""

    name: str
    role: Role
    password_hash: str
    created_at: datetime


# Outcomes of an audited action.
DONE = "done"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One console action: who, when, what, on what, and how it ended."""

    at: datetime
    user: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)
