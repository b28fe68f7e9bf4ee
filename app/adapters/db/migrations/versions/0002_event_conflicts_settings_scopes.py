"""differing webhook events kept apart, campaign settings, API client scopes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Keys issued before scopes existed could read claims and campaign reports; they keep that.
LEGACY_CLIENT_SCOPES = "claims,campaigns:read"


def upgrade() -> None:
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("conflict_of", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "uq_inbox_events_primary",
            ["event_type_id", "campaign_id"],
            unique=True,
            postgresql_where=sa.text("conflict_of IS NULL"),
            sqlite_where=sa.text("conflict_of IS NULL"),
        )

    op.create_table(
        "campaign_settings",
        sa.Column("campaign_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_settings")),
    )

    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.String(length=255), nullable=False, server_default=LEGACY_CLIENT_SCOPES)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_column("scopes")
    op.drop_table("campaign_settings")
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.drop_index("uq_inbox_events_primary")
        batch_op.drop_column("conflict_of")
        batch_op.drop_column("fingerprint")
