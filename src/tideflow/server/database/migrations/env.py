"""Alembic environment: runs migrations on the connection of a tideflow ``Database``."""

from __future__ import annotations

from alembic import context

from tideflow.server.database.tables import Base

config = context.config
db = config.attributes["tideflow_database"]

with db.engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=db.dialect == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
