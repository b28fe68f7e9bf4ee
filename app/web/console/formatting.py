"""How the console writes numbers, durations and times (Jinja filters)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint


def duration(seconds: float | None) -> str:
    """`3725` → `1h 02m`; a negative time is overdue; None → `-`."""
    if seconds is None:
        return "-"
    left = abs(int(seconds))
    days, left = divmod(left, 86_400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    if days:
        text = f"{days}d {hours:02d}h"
    elif hours:
        text = f"{hours}h {minutes:02d}m"
    elif minutes:
        text = f"{minutes}m {secs:02d}s"
    else:
        text = f"{secs}s"
    return f"overdue by {text}" if seconds < 0 else text


def number(value: int | float | None) -> str:
    """Thousands separated by a thin space, as the pages show them."""
    if value is None:
        return "-"
    return f"{value:,}".replace(",", "\u202f")


def when(value: datetime | None) -> str:
    """A UTC time to the second."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def clock_time(value: datetime | None) -> str:
    """The time of day (UTC) only."""
    return "-" if value is None else value.strftime("%H:%M:%S")


def percent(part: int | float, whole: int | float) -> float:
    """`part` as a percentage of `whole` (0 when the whole is 0), for the SVG bars."""
    return 0.0 if not whole else round(100.0 * min(part, whole) / whole, 2)


def register_filters(blueprint: Blueprint) -> None:
    """Make the filters available to the console's templates."""
    filters: dict[str, Callable[..., str]] = {
        "duration": duration,
        "number": number,
        "when": when,
        "clock_time": clock_time,
    }
    for name, function in filters.items():
        blueprint.add_app_template_filter(function, f"console_{name}")
    blueprint.add_app_template_global(percent, "console_percent")
