"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 18:57:51.651603
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activations",
        sa.Column("claim_id", sa.String(length=36), nullable=False),
        sa.Column("activator", sa.String(length=32), nullable=False),
        sa.Column("external_ref", sa.String(length=128), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_activations")),
    )
    op.create_table(
        "api_clients",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_clients_key_id")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
    )
    op.create_table(
        "campaign_audience",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("page_no", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("promo_code", sa.String(length=128), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("scrub_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_audience")),
        sa.UniqueConstraint("campaign_id", "customer_id", name="uq_campaign_audience_customer"),
    )
    with op.batch_alter_table("campaign_audience", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_audience_page", ["campaign_id", "page_no"], unique=False)

    op.create_table(
        "campaign_pages",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("page_no", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("first_customer_id", sa.String(length=128), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatch_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "page_no", name=op.f("pk_campaign_pages")),
    )
    with op.batch_alter_table("campaign_pages", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_pages_state", ["state", "dispatched_at"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="scheduled", nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("clearance_required_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("page_size", sa.Integer(), nullable=False),
        sa.Column("last_page", sa.Integer(), nullable=True),
        sa.Column("pages_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_ingested", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("eligible_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("scrubbed_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("approved_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("approval_calls", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("resent_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("at_risk_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingest_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ingest_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approvals_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "claims",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("promo_code", sa.String(length=128), nullable=True),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("session_properties", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("reward_type", sa.String(length=64), nullable=True),
        sa.Column("reward_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("granted_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("campaign_id", "customer_id", name="uq_claims_campaign_customer"),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_claims_client_idempotency_key"),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(
            "ix_claims_pending_promo",
            ["promo_code", "created_at"],
            unique=False,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )
        batch_op.create_index("ix_claims_state", ["state", "updated_at"], unique=False)

    op.create_table(
        "customer_flags",
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.Column("fraud", sa.Boolean(), nullable=True),
        sa.Column("vip_level", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_flags")),
    )
    op.create_table(
        "inbox_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("event_type_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("raw_body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatch_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_inbox_events_dedupe_key")),
    )
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_events_pending", ["processed_at", "dispatched_at"], unique=False)

    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.Boolean(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("kind", "campaign_id", "customer_id", name="uq_outbox_customer_status"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending_by_campaign",
            ["campaign_id", "id"],
            unique=False,
            postgresql_where=sa.text("sent_at IS NULL AND dead_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL AND dead_at IS NULL"),
        )

    op.create_table(
        "wallet_ledger",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("claim_id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("reward_type", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_ledger")),
        sa.UniqueConstraint("claim_id", name=op.f("uq_wallet_ledger_claim_id")),
    )
    with op.batch_alter_table("wallet_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_wallet_ledger_customer", ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wallet_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_ledger_customer")

    op.drop_table("wallet_ledger")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending_by_campaign",
            postgresql_where=sa.text("sent_at IS NULL AND dead_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL AND dead_at IS NULL"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_events_pending")

    op.drop_table("inbox_events")
    op.drop_table("customer_flags")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_state")
        batch_op.drop_index(
            "ix_claims_pending_promo",
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )

    op.drop_table("claims")
    op.drop_table("campaigns")
    with op.batch_alter_table("campaign_pages", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_pages_state")

    op.drop_table("campaign_pages")
    with op.batch_alter_table("campaign_audience", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_audience_page")

    op.drop_table("campaign_audience")
    op.drop_table("api_clients")
    op.drop_table("activations")
