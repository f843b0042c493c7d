"""Alembic environment: runs on the connection that ``storage.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from twostep.storage.tables import metadata

# Any value: all that matters is that every process asks for the same lock.
_PG_MIGRATION_LOCK = 7_202_611

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Several nodes may start at once: one migrates, the others wait and find nothing to do.
    connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
