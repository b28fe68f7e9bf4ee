"""An in-memory unit of work for unit tests: the port of ``app.services.unit_of_work``, no database.

``FakeDatabase`` holds the tables (plain dicts of immutable rows, by primary key), shared by every
unit of work made on it. A ``FakeUnitOfWork`` sees the committed rows and its own writes; nobody
else sees its writes until ``commit()``; leaving the ``with`` block without committing throws them
away. The repositories follow the SQLAlchemy adapters' semantics (``app.adapters.db``), and
``tests/integration/test_unit_of_work_contract.py`` runs the same scenarios on both to keep it so.

Not modelled: statement timeouts (``limit_statement_time`` only records the bound), PostgreSQL's
NOTIFY of final claims, column length limits, and waiting on a lock (``WouldBlock`` is raised).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from app.domain.safeguards import ServiceSwitch, SettingsRule
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.fakes.activations import (
    ActivationRow,
    FakeActivations,
    WalletCreditRow,
    activations_table,
    wallet_ledger_table,
)
from tests.fakes.audience import AudienceRow, FakeAudience, audience_table
from tests.fakes.campaign_settings import FakeCampaignSettings, SettingsRow, campaign_settings_table
from tests.fakes.campaigns import CampaignRow, FakeCampaigns, FakePages, PageRow, campaigns_table, pages_table
from tests.fakes.claims import ClaimRow, FakeClaims, claims_table
from tests.fakes.clients import ClientRow, FakeClients, clients_table
from tests.fakes.console import (
    AuditRow,
    ConsoleUserRow,
    FakeConsoleAudit,
    FakeConsoleUsers,
    console_audit_table,
    console_users_table,
)
from tests.fakes.inbox import FakeInbox, InboxRow, inbox_table
from tests.fakes.operator_control import (
    FakeServiceSwitches,
    FakeSettingsRules,
    service_switches_table,
    settings_rules_table,
)
from tests.fakes.operator_data import FakeOperatorData, FlagsRow, customer_flags_table
from tests.fakes.outbox import FakeOutbox, OutboxKey, OutboxRow, outbox_table
from tests.fakes.reconciliation import FakeReconciliation
from tests.fakes.tables import Table, Transaction, TransactionClosed, WouldBlock
from tests.fakes.trail import FakeTrail, StatusCallRow, TrailRow, status_calls_table, trail_table

__all__ = ["FakeDatabase", "FakeUnitOfWork", "FakeUnitOfWorkFactory", "TransactionClosed", "WouldBlock"]


@dataclass
class FakeDatabase:
    """Every table of the schema, committed rows only; tests may read them (and seed odd rows) directly."""

    claims: Table[str, ClaimRow] = field(default_factory=claims_table)
    campaigns: Table[int, CampaignRow] = field(default_factory=campaigns_table)
    campaign_pages: Table[tuple[int, int], PageRow] = field(default_factory=pages_table)
    campaign_audience: Table[tuple[int, str], AudienceRow] = field(default_factory=audience_table)
    outbox: Table[OutboxKey, OutboxRow] = field(default_factory=outbox_table)
    inbox_events: Table[int, InboxRow] = field(default_factory=inbox_table)
    activations: Table[str, ActivationRow] = field(default_factory=activations_table)
    wallet_ledger: Table[str, WalletCreditRow] = field(default_factory=wallet_ledger_table)
    api_clients: Table[int, ClientRow] = field(default_factory=clients_table)
    customer_flags: Table[str, FlagsRow] = field(default_factory=customer_flags_table)
    campaign_settings: Table[int, SettingsRow] = field(default_factory=campaign_settings_table)
    console_users: Table[int, ConsoleUserRow] = field(default_factory=console_users_table)
    console_audit: Table[int, AuditRow] = field(default_factory=console_audit_table)
    settings_rules: Table[str, SettingsRule] = field(default_factory=settings_rules_table)
    service_switches: Table[str, ServiceSwitch] = field(default_factory=service_switches_table)
    trail_events: Table[int, TrailRow] = field(default_factory=trail_table)
    status_calls: Table[int, StatusCallRow] = field(default_factory=status_calls_table)


class FakeUnitOfWork:
    """A unit of work on a FakeDatabase (``app.services.unit_of_work.UnitOfWork``); not reusable."""

    claims: FakeClaims
    campaigns: FakeCampaigns
    pages: FakePages
    audience: FakeAudience
    outbox: FakeOutbox
    inbox: FakeInbox
    reconciliation: FakeReconciliation
    activations: FakeActivations
    clients: FakeClients
    operator_data: FakeOperatorData
    campaign_settings: FakeCampaignSettings
    console_users: FakeConsoleUsers
    console_audit: FakeConsoleAudit
    settings_rules: FakeSettingsRules
    switches: FakeServiceSwitches
    trail: FakeTrail

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self._tx: Transaction | None = None
        self.statement_time_limit_ms: int | None = None

    def __enter__(self) -> Self:
        tx = self._tx = Transaction()
        db = self.db
        claims, campaigns = tx.view(db.claims), tx.view(db.campaigns)
        audience = tx.view(db.campaign_audience)
        self.trail = FakeTrail(
            tx.view(db.trail_events),
            tx.view(db.status_calls),
            tx.view(db.outbox),
            tx.view(db.campaign_audience),
        )
        self.claims = FakeClaims(claims, campaigns, audience, self.trail)
        self.campaigns = FakeCampaigns(campaigns)
        self.pages = FakePages(tx.view(db.campaign_pages), campaigns)
        self.audience = FakeAudience(audience)
        self.outbox = FakeOutbox(tx.view(db.outbox), campaigns, audience)
        self.inbox = FakeInbox(tx.view(db.inbox_events))
        self.activations = FakeActivations(tx.view(db.activations), tx.view(db.wallet_ledger), claims)
        self.reconciliation = FakeReconciliation(
            tx.view(db.outbox),
            tx.view(db.activations),
            tx.view(db.wallet_ledger),
            claims,
            campaigns,
            tx.view(db.campaign_audience),
        )
        self.clients = FakeClients(tx.view(db.api_clients))
        self.operator_data = FakeOperatorData(tx.view(db.customer_flags))
        self.campaign_settings = FakeCampaignSettings(tx.view(db.campaign_settings))
        self.console_users = FakeConsoleUsers(tx.view(db.console_users))
        self.console_audit = FakeConsoleAudit(tx.view(db.console_audit))
        self.settings_rules = FakeSettingsRules(tx.view(db.settings_rules))
        self.switches = FakeServiceSwitches(tx.view(db.service_switches))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.close()

    def commit(self) -> None:
        """Make every change of this unit of work visible to all, at once; it goes on in a new transaction."""
        self._open().commit()

    def limit_statement_time(self, milliseconds: int) -> None:
        """Remember the bound (a test may check it was asked for); nothing here can run long."""
        self._open()
        self.statement_time_limit_ms = milliseconds

    def _open(self) -> Transaction:
        if self._tx is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        return self._tx


class FakeUnitOfWorkFactory:
    """Makes units of work on one FakeDatabase, and counts them (a test may check none was opened)."""

    def __init__(self, db: FakeDatabase | None = None) -> None:
        self.db = db if db is not None else FakeDatabase()
        self.opened = 0
        self.last: FakeUnitOfWork | None = None

    def __call__(self) -> FakeUnitOfWork:
        self.opened += 1
        self.last = FakeUnitOfWork(self.db)
        return self.last


def _conforms_to_the_port(factory: FakeUnitOfWorkFactory) -> tuple[UnitOfWorkFactory, UnitOfWork]:
    """Never called: mypy checks here that the fakes are what the services ask for."""
    return factory, factory()
