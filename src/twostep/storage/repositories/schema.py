"""Which Alembic revision the database's schema is at (its ``alembic_version`` row)."""

from __future__ import annotations

from sqlalchemy import column, select, table

from twostep.storage.db import Tx

__all__ = ["schema_revision"]

# Alembic's own bookkeeping table: not one of our models, so described here, not in `tables`.
_ALEMBIC_VERSION = table("alembic_version", column("version_num"))


async def schema_revision(tx: Tx) -> str | None:
    """The revision the schema is at; None on a database never migrated."""
    row = (await tx.execute(select(_ALEMBIC_VERSION.c.version_num).limit(1))).first()
    return None if row is None else str(row.version_num)
