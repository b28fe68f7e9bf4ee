"""operator control: safeguards, the global pause, campaign settings and rules at run time

Revision ID: 0007_operator_control
Revises: 0007_customer_trail
Create Date: 2026-11-27 12:00:00.000000

Campaign settings gain the safeguards (max audience, max rewards, max total reward amount); rules
by promo code pattern give defaults between a campaign's own settings and the environment.
Campaigns record why they are held, where their mode came from, the promo code their rules match,
and the rewards and amount reserved within their limits (claims keep the amount reserved for them,
so that a failed grant gives it back). The global pause is a row of service_switches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_operator_control"
down_revision = "0007_customer_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("mode_from", sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column("promo_code", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("rewards_reserved", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "amount_reserved",
                sa.Numeric(precision=18, scale=4),
                server_default=sa.text("0"),
                nullable=False,
            )
        )
    with op.batch_alter_table("campaign_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_audience", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_rewards", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_reward_amount", sa.Numeric(precision=18, scale=4), nullable=True))
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reserved_amount", sa.Numeric(precision=18, scale=4), nullable=True))
    op.create_table(
        "settings_rules",
        sa.Column("pattern", sa.String(length=128), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("max_audience", sa.BigInteger(), nullable=True),
        sa.Column("max_rewards", sa.BigInteger(), nullable=True),
        sa.Column("max_reward_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pattern", name=op.f("pk_settings_rules")),
    )
    op.create_table(
        "service_switches",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("on", sa.Boolean(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_switches")),
    )


def downgrade() -> None:
    op.drop_table("service_switches")
    op.drop_table("settings_rules")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("reserved_amount")
    with op.batch_alter_table("campaign_settings", schema=None) as batch_op:
        batch_op.drop_column("max_reward_amount")
        batch_op.drop_column("max_rewards")
        batch_op.drop_column("max_audience")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("amount_reserved")
        batch_op.drop_column("rewards_reserved")
        batch_op.drop_column("promo_code")
        batch_op.drop_column("mode_from")
        batch_op.drop_column("hold")
