"""customer trail: every step of every (campaign, customer), append-only

Revision ID: 0007_customer_trail
Revises: 0006
Create Date: 2026-11-27 12:00:00.000000

One table, one index (customer, campaign, id): the trail is written on the hot paths, so it pays
for no other. Customers ingested or claims made before this revision have no events: the trail
says so, and tells their story from the audience and claim rows.
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


def downgrade() -> None:
    op.drop_index("ix_trail_events_customer", table_name="trail_events")
    op.drop_table("trail_events")
