"""The schema: inbox, campaigns, their pages and audience, the outbox and operator data.

SQLAlchemy Core tables, shared by the Alembic migrations and the repositories. Every table
runs on PostgreSQL (production, tests) and SQLite (embedded mode).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

# SQLite only autoincrements an INTEGER PRIMARY KEY, so big ids become plain integers there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _utc_timestamp(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


inbox_events = Table(
    "inbox_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    # (EventTypeID, CampaignID, fingerprint of the fields that identify a redelivery): a true
    # redelivery is stored once; an event that differs from the first of its kind is stored too.
    Column("dedupe_key", String(128), nullable=False, unique=True),
    Column("event_type_id", Integer, nullable=False),
    Column("campaign_id", BigInteger, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("raw_body", Text, nullable=False),
    _utc_timestamp("received_at", nullable=False),
    _utc_timestamp("dispatched_at"),
    Column("dispatch_count", Integer, nullable=False, server_default=text("0")),
    _utc_timestamp("processed_at"),
    Column("outcome", String(64)),
    Column("fingerprint", String(64)),
    # Set on an event that differs from the first one of its (EventTypeID, CampaignID): the id of
    # that first event. Such an event is stored and surfaced, never acted on.
    Column("conflict_of", BigInteger),
)
Index("ix_inbox_events_pending", inbox_events.c.processed_at, inbox_events.c.dispatched_at)
# One event acted on per (EventTypeID, CampaignID): the first that arrived.
Index(
    "uq_inbox_events_primary",
    inbox_events.c.event_type_id,
    inbox_events.c.campaign_id,
    unique=True,
    postgresql_where=inbox_events.c.conflict_of.is_(None),
    sqlite_where=inbox_events.c.conflict_of.is_(None),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False, server_default="scheduled"),
    Column("mode", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    _utc_timestamp("clearance_required_by"),
    _utc_timestamp("event_timestamp"),
    Column("page_size", Integer, nullable=False),
    Column("last_page", Integer),
    Column("pages_done", Integer, nullable=False, server_default=text("0")),
    Column("rows_ingested", BigInteger, nullable=False, server_default=text("0")),
    Column("eligible_count", BigInteger, nullable=False, server_default=text("0")),
    Column("scrubbed_count", BigInteger, nullable=False, server_default=text("0")),
    Column("approved_count", BigInteger, nullable=False, server_default=text("0")),
    Column("approval_calls", Integer, nullable=False, server_default=text("0")),
    Column("resent_count", BigInteger, nullable=False, server_default=text("0")),
    # Status updates given up on, counted when the outbox marks them dead (the report reads this
    # instead of counting a million outbox rows).
    Column("dead_count", BigInteger, nullable=False, server_default=text("0")),
    _utc_timestamp("at_risk_since"),
    _utc_timestamp("created_at", nullable=False),
    _utc_timestamp("updated_at", nullable=False),
    _utc_timestamp("ingest_started_at"),
    _utc_timestamp("ingest_finished_at"),
    _utc_timestamp("approvals_finished_at"),
    Column("error", Text),
    # Safeguards (issue 11): why the campaign is held (NULL: not held); where its mode came from
    # (settings, rule:<pattern>, environment; NULL until settled at the first page); the promo code
    # its rules match; the rewards and amount reserved within max_rewards / max_reward_amount.
    Column("hold", Text),
    Column("mode_from", String(160)),
    Column("promo_code", String(128)),
    Column("rewards_reserved", BigInteger, nullable=False, server_default=text("0")),
    Column("amount_reserved", Numeric(18, 4), nullable=False, server_default=text("0")),
)

campaign_pages = Table(
    "campaign_pages",
    metadata,
    Column("campaign_id", BigInteger, primary_key=True),
    Column("page_no", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("row_count", Integer),
    Column("first_customer_id", String(128)),
    _utc_timestamp("dispatched_at"),
    Column("dispatch_count", Integer, nullable=False, server_default=text("0")),
    _utc_timestamp("done_at"),
    Column("error", Text),
)
Index("ix_campaign_pages_state", campaign_pages.c.state, campaign_pages.c.dispatched_at)

campaign_audience = Table(
    "campaign_audience",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("campaign_id", BigInteger, nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("page_no", Integer, nullable=False),
    Column("action_id", Integer),
    Column("promo_code", String(128)),
    Column("attributes", JSON),
    Column("segment", String(64)),
    Column("eligible", Boolean, nullable=False),
    Column("scrub_reason", String(64)),
    UniqueConstraint("campaign_id", "customer_id", name="uq_campaign_audience_customer"),
)
Index("ix_campaign_audience_page", campaign_audience.c.campaign_id, campaign_audience.c.page_no)

# How many customers of each page each scrub reason removed and each segment holds, written with
# the page: a campaign's breakdown is then a sum over its pages (a few hundred rows for a million
# customers) instead of a GROUP BY over its whole audience.
audience_breakdown = Table(
    "audience_breakdown",
    metadata,
    Column("campaign_id", BigInteger, primary_key=True, autoincrement=False),
    Column("page_no", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), primary_key=True),  # scrub_reason (scrubbed rows) or segment (eligible)
    Column("name", String(64), primary_key=True),
    Column("customers", BigInteger, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("campaign_id", BigInteger, nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("status", Boolean, nullable=False),
    # The campaign's ClearanceRequiredBy, copied so the relay can order work by deadline.
    _utc_timestamp("deadline"),
    _utc_timestamp("created_at", nullable=False),
    _utc_timestamp("available_at", nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("lease_id", String(36)),
    _utc_timestamp("lease_until"),
    # Calls that carried this row and may have been applied: > 1 means Optimove saw a re-send.
    Column("send_count", Integer, nullable=False, server_default=text("0")),
    _utc_timestamp("sent_at"),
    _utc_timestamp("dead_at"),
    Column("last_error", Text),
    # A page's approvals in one row (kind page_approvals, customer_id "page:<n>"): the page's
    # eligible customers in customer id order, those up to `sent_through` sent, `customers` still to
    # send; a relay's lease holds the next `lease_customers` of them, up to `lease_through`.
    Column("page_no", Integer),
    Column("customers", Integer),
    Column("customers_sent", Integer),
    Column("sent_through", String(128)),
    Column("lease_through", String(128)),
    Column("lease_customers", Integer),
    # The status call (status_calls.id) that last carried this row: set with sent_at, in the same update.
    Column("last_call_id", BigInteger),
    UniqueConstraint("kind", "campaign_id", "customer_id", name="uq_outbox_customer_status"),
)
# One partial index: the relay only ever scans rows still waiting to be sent, one campaign at a
# time. Every index on this table is paid for three times per row (insert, lease, sent), and the lease
# columns are left unindexed so that leasing a row is a HOT update.
_PENDING_OUTBOX = and_(outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))
Index(
    "ix_outbox_pending_by_campaign",
    outbox.c.campaign_id,
    outbox.c.id,
    postgresql_where=_PENDING_OUTBOX,
    sqlite_where=_PENDING_OUTBOX,
)


# What the operator decided about a campaign, possibly before Optimove announced it: its kind (a
# triggered campaign must be declared before the gateway acts for it), its mode and notes.
campaign_settings = Table(
    "campaign_settings",
    metadata,
    Column("campaign_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16)),
    Column("mode", String(16)),
    Column("notes", Text),
    Column("max_audience", BigInteger),
    Column("max_rewards", BigInteger),
    Column("max_reward_amount", Numeric(18, 4)),
    _utc_timestamp("created_at", nullable=False),
    _utc_timestamp("updated_at", nullable=False),
    Column("updated_by", String(64)),
)

# Defaults by promo code pattern (fnmatch), between a campaign's own settings and the environment.
settings_rules = Table(
    "settings_rules",
    metadata,
    Column("pattern", String(128), primary_key=True),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("mode", String(16)),
    Column("max_audience", BigInteger),
    Column("max_rewards", BigInteger),
    Column("max_reward_amount", Numeric(18, 4)),
    Column("notes", Text),
    Column("updated_by", String(64)),
    _utc_timestamp("updated_at", nullable=False),
)

# Global switches every process reads per batch: 'pause' stops validations, activations, approvals.
service_switches = Table(
    "service_switches",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("on", Boolean, nullable=False),
    Column("by", String(64)),
    _utc_timestamp("at"),
    Column("reason", Text),
)


customer_flags = Table(
    "customer_flags",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("consent", Boolean),
    Column("fraud", Boolean),
    Column("vip_level", Integer),
    _utc_timestamp("updated_at", nullable=False),
)

# Claims (flow C) ---------------------------------------------------------------------------------

api_clients = Table(
    "api_clients",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    # Keys look like pb_<key_id>_<secret>: the key id finds the row, the secret is only stored hashed.
    Column("key_id", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("rate_limit_per_minute", Integer, nullable=False),
    _utc_timestamp("created_at", nullable=False),
    _utc_timestamp("revoked_at"),
    # Comma-separated: what the key may do (claims, campaigns:read, admin).
    Column("scopes", String(255), nullable=False, server_default="claims,campaigns:read"),
)

claims = Table(
    "claims",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", BigInteger),
    Column("source", String(16), nullable=False),
    Column("campaign_id", BigInteger, nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("promo_code", String(128)),
    Column("segment", String(64)),
    Column("session_properties", JSON, nullable=False),
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(255)),
    Column("tier", String(64)),
    Column("reward_type", String(64)),
    Column("reward_amount", Numeric(18, 4)),
    Column("granted_amount", Numeric(18, 4)),
    # The amount held within the campaign's reward limits for this claim (NULL: none held).
    Column("reserved_amount", Numeric(18, 4)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # Grant attempts made (counted before each POST), so re-dispatches cannot make them unbounded.
    Column("activation_attempts", Integer, nullable=False, server_default=text("0")),
    Column("lease_id", String(36)),
    _utc_timestamp("lease_until"),
    Column("correlation_id", String(64)),
    _utc_timestamp("created_at", nullable=False),
    _utc_timestamp("updated_at", nullable=False),
    _utc_timestamp("dispatched_at"),
    _utc_timestamp("validated_at"),
    _utc_timestamp("activated_at"),
    _utc_timestamp("completed_at"),
    UniqueConstraint("campaign_id", "customer_id", name="uq_claims_campaign_customer"),
    UniqueConstraint("client_id", "idempotency_key", name="uq_claims_client_idempotency_key"),
)
Index("ix_claims_state", claims.c.state, claims.c.updated_at)
# The console's recent activity of one campaign (claims per minute, validation batches).
Index("ix_claims_campaign_created", claims.c.campaign_id, claims.c.created_at)
Index(
    "ix_claims_pending_promo",
    claims.c.promo_code,
    claims.c.created_at,
    postgresql_where=claims.c.state == "pending",
    sqlite_where=claims.c.state == "pending",
)

activations = Table(
    "activations",
    metadata,
    Column("claim_id", String(36), primary_key=True),
    Column("activator", String(32), nullable=False),
    Column("external_ref", String(128)),
    Column("amount", Numeric(18, 4), nullable=False),
    _utc_timestamp("created_at", nullable=False),
)

wallet_ledger = Table(
    "wallet_ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # One credit per claim, whatever is retried or redelivered.
    Column("claim_id", String(36), nullable=False, unique=True),
    Column("campaign_id", BigInteger, nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("reward_type", String(64)),
    Column("amount", Numeric(18, 4), nullable=False),
    _utc_timestamp("created_at", nullable=False),
)
Index("ix_wallet_ledger_customer", wallet_ledger.c.customer_id)

# The campaign console -----------------------------------------------------------------------------

console_users = Table(
    "console_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    # Consecutive failed sign-ins; reaching the limit locks the user until locked_until.
    Column("failed_sign_ins", Integer, nullable=False, server_default=text("0")),
    _utc_timestamp("locked_until"),
    _utc_timestamp("created_at", nullable=False),
    _utc_timestamp("last_sign_in_at"),
    _utc_timestamp("disabled_at"),
)

# Every console action (refused ones too), written in the unit of work of the action itself.
console_audit = Table(
    "console_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _utc_timestamp("at", nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", JSON, nullable=False),
)
Index("ix_console_audit_at", console_audit.c.at)

# The customers' trail -----------------------------------------------------------------------------

# Every step of every (campaign, customer), append-only, written in the transaction of the work
# itself (see app.domain.trail). One index: a customer's story is read by customer, then campaign,
# in the order written; every other index would be paid for on the hot paths.
trail_events = Table(
    "trail_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("campaign_id", BigInteger, nullable=False),
    Column("customer_id", String(128), nullable=False),
    _utc_timestamp("at", nullable=False),
    Column("step", String(32), nullable=False),
    Column("details", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
)
Index("ix_trail_events_customer", trail_events.c.customer_id, trail_events.c.campaign_id, trail_events.c.id)

# One row per UpdateCustomerPromotionStatus call, written by the relay in the transaction that
# records its outcome; the outbox rows it carried point at it (outbox.last_call_id).
status_calls = Table(
    "status_calls",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("campaign_id", BigInteger, nullable=False),
    _utc_timestamp("at", nullable=False),
    Column("kind", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", Text),
)
