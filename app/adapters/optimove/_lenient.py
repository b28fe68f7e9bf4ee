"""Forgiving readers for vendor JSON whose casing and number types are not documented.

Optimove's samples mix ``"ActionID": 4`` and ``"ActionID": "4"`` and spell keys in several cases, so
every reader here accepts the plausible variants and raises ValueError, with the field name, on
anything else. Callers turn that ValueError into their own error type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["as_int", "as_scalar_text", "as_text", "get_field", "normalize_key"]

# Up to 18 digits always fits a signed 64-bit column, which is where these ids end up.
_INTEGER_RE = re.compile(r"^[+-]?[0-9]{1,18}$")


def normalize_key(key: str) -> str:
    """Fold "CustomerID", "customerId" and "customer_id" to one spelling for comparison."""
    return key.replace("_", "").replace("-", "").lower()


def get_field(row: Mapping[str, object], name: str) -> object | None:
    """Read ``name`` from an object whatever its casing; None when absent."""
    if name in row:
        return row[name]
    wanted = normalize_key(name)
    for key, value in row.items():
        if isinstance(key, str) and normalize_key(key) == wanted:
            return value
    return None


def as_int(value: object, name: str) -> int:
    """Accept an int, an integral float or a numeric string; raise ValueError naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_RE.match(value.strip()):
        return int(value.strip())
    raise ValueError(f"{name} must be an integer or a numeric string, got {value!r}")


def as_text(value: object, name: str) -> str:
    """Accept a non-empty string or an integer (ids arrive as both) and return it as a string."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise ValueError(f"{name} must be a non-empty string or an integer, got {value!r}")


def as_scalar_text(value: object, name: str) -> str | None:
    """Render a scalar attribute value as text (JSON booleans as "true"/"false"); None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"{name} values must be scalars, got {type(value).__name__}")
