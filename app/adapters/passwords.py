"""Console passwords hashed with Argon2id (argon2-cffi, RFC 9106's low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Passwords:
    """The PasswordHasher port on argon2-cffi's defaults (Argon2id, 64 MiB, 3 passes, 16-byte salt)."""

    def __init__(self) -> None:
        self._argon2 = _Argon2()

    def hash(self, password: str) -> str:
        """A new salted hash of `password`."""
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches; a malformed hash is a mismatch, never an error."""
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
