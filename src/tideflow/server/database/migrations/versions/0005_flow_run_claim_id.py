"""flow_run.claim_id: agents' claims become idempotent

A claim whose response is lost is retried with the same claim id; the store then
returns the runs that claim already took instead of leaving them Pending until the crash
detector releases them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_flow_run__claim_id", ["claim_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_run__claim_id")
        batch_op.drop_column("claim_id")
