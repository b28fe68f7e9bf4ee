"""Settings rules by promo code pattern and the global switches (the pause), on one connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from app.adapters.db.dialect import upsert
from app.adapters.db.tables import service_switches, settings_rules
from app.clock import as_utc
from app.domain.safeguards import Safeguards, ServiceSwitch, SettingsRule


def _rule(row: Any) -> SettingsRule:
    return SettingsRule(
        pattern=row["pattern"],
        priority=row["priority"],
        mode=row["mode"],
        safeguards=Safeguards(row["max_audience"], row["max_rewards"], row["max_reward_amount"]),
        notes=row["notes"],
        updated_by=row["updated_by"],
        updated_at=as_utc(row["updated_at"]),
    )


class SqlSettingsRules:
    """The settings-rules repository (see ``app.services.unit_of_work.SettingsRuleRepository``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self) -> list[SettingsRule]:
        """Every rule, by pattern."""
        query = select(settings_rules).order_by(settings_rules.c.pattern)
        return [_rule(row) for row in self._conn.execute(query).mappings()]

    def save(self, rule: SettingsRule, *, now: datetime) -> None:
        """Create or replace the rule of its pattern."""
        values = {
            "priority": rule.priority,
            "mode": rule.mode,
            "max_audience": rule.safeguards.max_audience,
            "max_rewards": rule.safeguards.max_rewards,
            "max_reward_amount": rule.safeguards.max_reward_amount,
            "notes": rule.notes,
            "updated_by": rule.updated_by,
            "updated_at": now,
        }
        self._conn.execute(
            upsert(self._conn, settings_rules, ["pattern"], {"pattern": rule.pattern, **values}, values)
        )

    def delete(self, pattern: str) -> bool:
        """Remove the rule of a pattern; False when there was none."""
        result = self._conn.execute(delete(settings_rules).where(settings_rules.c.pattern == pattern))
        return result.rowcount == 1


class SqlServiceSwitches:
    """The global switches (see ``app.services.unit_of_work.ServiceSwitchRepository``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, name: str) -> ServiceSwitch | None:
        """The switch, or None when it was never set (off)."""
        row = (
            self._conn.execute(select(service_switches).where(service_switches.c.name == name))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return ServiceSwitch(row["name"], row["on"], row["by"], as_utc(row["at"]), row["reason"])

    def set(self, name: str, *, on: bool, by: str | None, reason: str | None, now: datetime) -> bool:
        """Turn the switch on or off; False when it already was so (never set is off; nothing changes)."""
        current = self.get(name)
        if (current is not None and current.on) == on:  # never set: off
            return False
        values = {"on": on, "by": by, "at": now, "reason": reason}
        self._conn.execute(upsert(self._conn, service_switches, ["name"], {"name": name, **values}, values))
        return True
