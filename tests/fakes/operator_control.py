"""Settings rules and the global switches in memory, as ``app.adapters.db.operator_control``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.domain.safeguards import ServiceSwitch, SettingsRule
from tests.fakes.tables import Table, TableView, numeric_column


def settings_rules_table() -> Table[str, SettingsRule]:
    """An empty settings_rules table, keyed by pattern."""
    return Table("settings_rules")


def service_switches_table() -> Table[str, ServiceSwitch]:
    """An empty service_switches table, keyed by name."""
    return Table("service_switches")


class FakeSettingsRules:
    """The settings-rules repository in memory (see ``app.services.unit_of_work``)."""

    def __init__(self, rows: TableView[str, SettingsRule]) -> None:
        self._rows = rows

    def all(self) -> list[SettingsRule]:
        """Every rule, by pattern."""
        return sorted(self._rows.rows(), key=lambda rule: rule.pattern)

    def save(self, rule: SettingsRule, *, now: datetime) -> None:
        """Create or replace the rule of its pattern."""
        limits = rule.safeguards
        stored = replace(
            rule,
            safeguards=replace(limits, max_reward_amount=numeric_column(limits.max_reward_amount)),
            updated_at=now,
        )
        if not self._rows.insert(rule.pattern, stored):
            self._rows.update(rule.pattern, stored)

    def delete(self, pattern: str) -> bool:
        """Remove the rule of a pattern; False when there was none."""
        return self._rows.delete(pattern)


class FakeServiceSwitches:
    """The global switches in memory (see ``app.services.unit_of_work``)."""

    def __init__(self, rows: TableView[str, ServiceSwitch]) -> None:
        self._rows = rows

    def get(self, name: str) -> ServiceSwitch | None:
        """The switch, or None when it was never set (off)."""
        return self._rows.get(name)

    def set(self, name: str, *, on: bool, by: str | None, reason: str | None, now: datetime) -> bool:
        """Turn the switch on or off; False when it already was so (never set is off; nothing changes)."""
        current = self._rows.get(name)
        if (current is not None and current.on) == on:  # never set: off
            return False
        switch = ServiceSwitch(name, on, by, now, reason)
        if not self._rows.insert(name, switch):
            self._rows.update(name, switch)
        return True
