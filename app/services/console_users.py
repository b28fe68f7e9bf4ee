"""Console users: created from the command line, signed in with a password, locked after guesses.

Only an Argon2 hash of a password is stored. A user who keeps failing is locked for a while,
whichever address the guesses come from (the web also throttles each address); a locked user is
refused without their password being checked, so guesses during the lock teach nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.console import DONE, REFUSED, AuditEntry, ConsoleUser, NewConsoleUser, Role
from app.services.ports import PasswordHasher
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # Argon2 takes any length; a megabyte "password" is only a way to burn CPU
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
SIGN_IN = "sign_in"


class UserExists(ValueError):
    """Raised when a console user name is already taken."""


class UnusableUserInput(ValueError):
    """Raised when a user name or password cannot be used (the message says why)."""


class SignInRefused(Exception):
    """Raised when a sign-in fails: wrong name or password, a disabled user, or a locked one."""

    def __init__(self, *, locked: bool) -> None:
        super().__init__("too many failed sign-ins: try again later" if locked else "wrong name or password")
        self.locked = locked


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many failed sign-ins in a row lock a user, and for how long."""

    max_failures: int
    lock_for: timedelta


def check_user_name(name: str) -> str:
    """The name if usable (letters, digits, ._@-, up to 64); raises UnusableUserInput otherwise."""
    if not USER_NAME.fullmatch(name):
        raise UnusableUserInput(
            "a user name is 1-64 letters, digits or ._@- and starts with a letter or digit"
        )
    return name


def check_password(password: str, name: str) -> str:
    """The password if acceptable; raises UnusableUserInput saying why not."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UnusableUserInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UnusableUserInput(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if name.lower() in password.lower() or len(set(password)) < 6:
        raise UnusableUserInput("the password is too easy to guess (it contains the name or repeats itself)")
    return password


def create_user(
    uow_factory: UnitOfWorkFactory,
    passwords: PasswordHasher,
    name: str,
    role: Role,
    password: str,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Create a console user; their id. Raises UnusableUserInput or UserExists."""
    check_password(password, check_user_name(name))
    password_hash = passwords.hash(password)
    with uow_factory() as uow:
        user_id = uow.console_users.add(NewConsoleUser(name, role, password_hash, created_at=clock()))
        if user_id is None:
            raise UserExists(f"a console user named {name!r} already exists")
        uow.commit()
    return user_id


def list_users(uow_factory: UnitOfWorkFactory) -> list[ConsoleUser]:
    """Every console user, disabled ones included."""
    with uow_factory() as uow:
        return uow.console_users.all()


def disable_user(
    uow_factory: UnitOfWorkFactory, name: str, *, clock: Callable[[], datetime] = utcnow
) -> bool:
    """Disable a user at once (their open sessions stop working too); True if they were enabled."""
    with uow_factory() as uow:
        disabled = uow.console_users.disable(name, now=clock())
        uow.commit()
    return disabled


def active_user(uow_factory: UnitOfWorkFactory, user_id: int) -> ConsoleUser | None:
    """The user a session belongs to, unless they were disabled since (or never existed)."""
    with uow_factory() as uow:
        user = uow.console_users.get(user_id)
    return None if user is None or user.disabled else user


# Checked when the name is unknown, so that an unknown name takes as long as a wrong password.
_NO_SUCH_USER_PASSWORD = "no such user: this hash is only ever checked to take the same time"


def sign_in(
    uow_factory: UnitOfWorkFactory,
    passwords: PasswordHasher,
    name: str,
    password: str,
    *,
    policy: LockoutPolicy,
    address: str,
    clock: Callable[[], datetime] = utcnow,
) -> ConsoleUser:
    """The user, if the password is theirs; raises SignInRefused. Sign-ins of known users are audited."""
    now = clock()
    with uow_factory() as uow:
        user = uow.console_users.find_by_name(name) if USER_NAME.fullmatch(name) else None
        if user is None or user.disabled or len(password) > MAX_PASSWORD_LENGTH:
            passwords.verify(_dummy_hash(passwords), password[:MAX_PASSWORD_LENGTH])
            raise SignInRefused(locked=False)
        if user.locked_until is not None and user.locked_until > now:
            _audit_sign_in(uow, user, now, REFUSED, address, "locked")
            uow.commit()
            raise SignInRefused(locked=True)
        if not passwords.verify(user.password_hash, password):
            locked = uow.console_users.record_failed_sign_in(
                user.id, max_failures=policy.max_failures, lock_for=policy.lock_for, now=now
            )
            _audit_sign_in(uow, user, now, REFUSED, address, "locked now" if locked else "wrong password")
            uow.commit()
            raise SignInRefused(locked=locked)
        uow.console_users.record_sign_in(user.id, now=now)
        _audit_sign_in(uow, user, now, DONE, address, None)
        uow.commit()
    return user


def _audit_sign_in(
    uow: UnitOfWork, user: ConsoleUser, now: datetime, outcome: str, address: str, why: str | None
) -> None:
    detail: dict[str, object] = {"address": address}
    if why is not None:
        detail["why"] = why
    uow.console_audit.add(
        AuditEntry(at=now, user=user.name, action=SIGN_IN, target="console", outcome=outcome, detail=detail)
    )


_dummy_hashes: dict[int, str] = {}


def _dummy_hash(passwords: PasswordHasher) -> str:
    key = id(passwords)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = passwords.hash(_NO_SUCH_USER_PASSWORD)
    return _dummy_hashes[key]
