"""task-run names, keys, versions and log names become unbounded text

A cache key is any string the user's cache_key_fn returns (the seed keys on URLs), and
task and logger names come from user code; with VARCHAR(255) PostgreSQL refused such
rows, which the write-behind recorder could never complete.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TASK_RUN_COLUMNS = ("name", "task_key", "task_version", "cache_key")


def upgrade() -> None:
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        for column in _TASK_RUN_COLUMNS:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=255),
                type_=sa.Text(),
                existing_nullable=column in ("task_version", "cache_key"),
            )
    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.alter_column(
            "name", existing_type=sa.String(length=255), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    # Values longer than 255 characters are cut to fit.
    bind = op.get_bind()
    for column in _TASK_RUN_COLUMNS:
        bind.execute(
            sa.text(
                f"UPDATE task_run SET {column} = substr({column}, 1, 255) "
                f"WHERE length({column}) > 255"
            )
        )
    bind.execute(sa.text("UPDATE log SET name = substr(name, 1, 255) WHERE length(name) > 255"))
    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.alter_column(
            "name", existing_type=sa.Text(), type_=sa.String(length=255), existing_nullable=False
        )
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        for column in _TASK_RUN_COLUMNS:
            batch_op.alter_column(
                column,
                existing_type=sa.Text(),
                type_=sa.String(length=255),
                existing_nullable=column in ("task_version", "cache_key"),
            )
