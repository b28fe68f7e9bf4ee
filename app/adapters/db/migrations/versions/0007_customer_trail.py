"""customer trail: every step of every (campaign, customer), append-only

Revision ID: 0007_customer_trail
Revises: 0006
Create Date: 2026-11-27 12:00:00.000000

One table, one index (customer, campaign, id): the trail is written on the hot paths, so it pays
for no other. A status sent costs no row per customer: one status_calls row per call, and the
outbox row (updated anyway) points at it. Customers ingested or claims made before this revision
have no events: the trail says so, and tells their story from the audience and claim rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_customer_trail"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trail_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trail_events")),
    )
    op.create_index(
        "ix_trail_events_customer", "trail_events", ["customer_id", "campaign_id", "id"], unique=False
    )
    op.create_table(
        "status_calls",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_calls")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_call_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("last_call_id")
    op.drop_table("status_calls")
    op.drop_index("ix_trail_events_customer", table_name="trail_events")
    op.drop_table("trail_events")
