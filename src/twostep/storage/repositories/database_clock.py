"""The database server's own clock (PostgreSQL), read for the clock skew guard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from twostep.storage.db import Tx

__all__ = ["database_now"]


async def database_now(tx: Tx) -> float:
    """The server's wall clock at this statement, in seconds since the epoch.

    ``clock_timestamp()``, not ``now()``: ``now()`` is the start of the transaction, which
    can be older than the statement by any time the transaction has been open.
    """
    value: datetime = (await tx.execute(select(func.clock_timestamp()))).scalar_one()
    return value.timestamp()
