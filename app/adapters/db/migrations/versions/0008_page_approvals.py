"""page approvals: an auto campaign's approvals queued as one outbox row per page

Revision ID: 0008
Revises: 0007_operator_control
Create Date: 2026-11-27 12:00:00.000000

An auto campaign used to queue one outbox row per eligible customer (a million inserts, and as
many updates when leased and sent). A page's approvals are now one row (kind page_approvals) that
stands for the page's eligible customers in customer id order: `customers` still to send and
`customers_sent`, a cursor `sent_through` (the last customer sent), and the range a relay holds
(`lease_through`, `lease_customers`). Nothing to backfill: existing per-customer rows stay valid.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007_operator_control"  # re-chained when issue11-control merged
branch_labels = None
depends_on = None

_COLUMNS = ("page_no", "customers", "customers_sent", "sent_through", "lease_through", "lease_customers")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page_no", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("customers", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("customers_sent", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sent_through", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("lease_through", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("lease_customers", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
