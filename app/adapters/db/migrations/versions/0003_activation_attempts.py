"""activation attempts per claim

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00.000000

Counts the grant attempts made for each claim, before each POST to the reward activator, so that
the POSTs per grant stay bounded (CLAIM_MAX_RETRIES + 1) whatever re-dispatches the claim.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("activation_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("activation_attempts")
