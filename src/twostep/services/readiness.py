"""Readiness: the database answers, its schema is at the revision this code expects, and this
node's clock agrees with the database server's."""

from __future__ import annotations

from functools import lru_cache

from twostep.services.clock_skew import ClockSkewWatch
from twostep.services.runtime import Runtime
from twostep.storage.migrate import head_revision
from twostep.storage.repositories.schema import schema_revision

__all__ = ["expected_revision", "not_ready_reason"]


@lru_cache(maxsize=1)
def expected_revision() -> str | None:
    """The newest migration shipped with this code (read once: it never changes in a process)."""
    return head_revision()


async def not_ready_reason(rt: Runtime, clock_skew: ClockSkewWatch | None = None) -> str | None:
    """None when ready; else why not, in words an operator acts on (the database first: a
    clock cannot be compared with a database that does not answer)."""
    try:
        async with rt.db.transaction() as tx:
            current = await schema_revision(tx)
    except Exception:  # any failure of the database means not ready
        return "The database does not answer, or has no schema: run twostep migrate."
    head = expected_revision()
    if current != head:
        return f"The database schema is at revision {current}, not {head}: run twostep migrate."
    return None if clock_skew is None else clock_skew.not_ready_reason()
