"""deployment retries, claim index

The flow's retries are copied onto its deployment so the crash detector can retry a
crashed run of it; the index serves agents' claims and the late-runs service.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CLAIM_INDEX = "ix_flow_run__claim"


def upgrade() -> None:
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("retry_delay_seconds", sa.Float(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.create_index(
            _CLAIM_INDEX,
            ["state_type", "work_queue_name", "next_scheduled_start_time"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index(_CLAIM_INDEX)
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_column("retry_delay_seconds")
        batch_op.drop_column("retries")
