"""campaign console: users, audit log, per-page audience breakdown, dead letters counted

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000

The console's users (role, argon2 hash, sign-in lockout) and the audit log of their actions; and
the audience broken down per page by scrub reason and segment, written with each page, so that a
campaign's report sums a few hundred rows instead of grouping its whole audience. Existing
campaigns are broken down once here, from their audience. Campaigns count their dead-lettered
status updates, and claims are indexed by campaign and time (the console's recent activity).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None

_BACKFILL = """
INSERT INTO audience_breakdown (campaign_id, page_no, kind, name, customers)
SELECT campaign_id, page_no, 'scrub_reason', COALESCE(scrub_reason, 'None'), COUNT(*)
  FROM campaign_audience WHERE eligible = {false}
 GROUP BY campaign_id, page_no, COALESCE(scrub_reason, 'None')
UNION ALL
SELECT campaign_id, page_no, 'segment', COALESCE(segment, 'None'), COUNT(*)
  FROM campaign_audience WHERE eligible = {true}
 GROUP BY campaign_id, page_no, COALESCE(segment, 'None')
"""


_BACKFILL_DEAD = """
UPDATE campaigns SET dead_count = (
    SELECT COUNT(*) FROM outbox WHERE outbox.campaign_id = campaigns.id AND outbox.dead_at IS NOT NULL
)
"""


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dead_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    op.execute(_BACKFILL_DEAD)
    op.create_index("ix_claims_campaign_created", "claims", ["campaign_id", "created_at"], unique=False)

    op.create_table(
        "audience_breakdown",
        sa.Column("campaign_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("page_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "page_no", "kind", "name", name=op.f("pk_audience_breakdown")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_BACKFILL.format(true="TRUE" if postgres else "1", false="FALSE" if postgres else "0"))

    op.create_table(
        "console_users",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_users")),
        sa.UniqueConstraint("name", name=op.f("uq_console_users_name")),
    )
    op.create_table(
        "console_audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_audit")),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_console_audit_at", table_name="console_audit")
    op.drop_table("console_audit")
    op.drop_table("console_users")
    op.drop_table("audience_breakdown")
    op.drop_index("ix_claims_campaign_created", table_name="claims")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("dead_count")
