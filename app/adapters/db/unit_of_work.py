"""The SQLAlchemy unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from app.adapters.db.activations import SqlActivations
from app.adapters.db.audience import SqlAudience
from app.adapters.db.campaign_settings import SqlCampaignSettings
from app.adapters.db.campaigns import SqlCampaigns, SqlPages
from app.adapters.db.claims import SqlClaims
from app.adapters.db.clients import SqlClients
from app.adapters.db.console import SqlConsoleAudit, SqlConsoleUsers
from app.adapters.db.dialect import limit_statement_time
from app.adapters.db.inbox import SqlInbox
from app.adapters.db.operator_control import SqlServiceSwitches, SqlSettingsRules
from app.adapters.db.operator_data import SqlOperatorData
from app.adapters.db.outbox import SqlOutbox
from app.adapters.db.reconciliation import SqlReconciliation
from app.adapters.db.trail import NoTrail, SqlTrail


class SqlAlchemyUnitOfWork:
    """A unit of work on `engine` (``app.services.unit_of_work.UnitOfWork``); not reusable, not shared.

    The transaction begins with the first statement and is rolled back on exit unless ``commit()``
    was called; after a commit, the next statement begins a new one.
    """

    claims: SqlClaims
    campaigns: SqlCampaigns
    pages: SqlPages
    audience: SqlAudience
    outbox: SqlOutbox
    inbox: SqlInbox
    reconciliation: SqlReconciliation
    activations: SqlActivations
    clients: SqlClients
    operator_data: SqlOperatorData
    campaign_settings: SqlCampaignSettings
    console_users: SqlConsoleUsers
    console_audit: SqlConsoleAudit
    settings_rules: SqlSettingsRules
    switches: SqlServiceSwitches
    trail: SqlTrail | NoTrail

    def __init__(self, engine: Engine, *, trail_enabled: bool = True) -> None:
        self._engine = engine
        self._trail_enabled = trail_enabled
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        self._conn = conn
        self.campaigns = SqlCampaigns(conn)
        self.pages = SqlPages(conn)
        self.audience = SqlAudience(conn)
        self.outbox = SqlOutbox(conn)
        self.inbox = SqlInbox(conn)
        self.reconciliation = SqlReconciliation(conn)
        self.activations = SqlActivations(conn)
        self.clients = SqlClients(conn)
        self.operator_data = SqlOperatorData(conn)
        self.campaign_settings = SqlCampaignSettings(conn)
        self.console_users = SqlConsoleUsers(conn)
        self.console_audit = SqlConsoleAudit(conn)
        self.settings_rules = SqlSettingsRules(conn)
        self.switches = SqlServiceSwitches(conn)
        self.trail = SqlTrail(conn) if self._trail_enabled else NoTrail()
        self.claims = SqlClaims(conn, self.trail)  # admit() puts a new claim's steps on the trail
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()

    @property
    def connection(self) -> Connection:
        """The open connection (for adapters that write inside this unit of work)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        return self._conn

    def commit(self) -> None:
        """Commit everything done so far; the unit of work can go on in a new transaction."""
        self.connection.commit()

    def limit_statement_time(self, milliseconds: int) -> None:
        """Bound each statement of this transaction (PostgreSQL's statement_timeout)."""
        limit_statement_time(self.connection, milliseconds)


class SqlAlchemyUnitOfWorkFactory:
    """Makes units of work on one engine; the composition root hands it to the services.

    `trail_enabled=False` (TRAIL_ENABLED) records no trail: for measuring what the trail costs.
    """

    def __init__(self, engine: Engine, *, trail_enabled: bool = True) -> None:
        self.engine = engine
        self.trail_enabled = trail_enabled

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine, trail_enabled=self.trail_enabled)
