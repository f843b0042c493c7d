"""Recovery codes: stored as keyed hashes, consumed by one conditional statement."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update

from twostep.storage.db import Tx
from twostep.storage.tables import new_id, recovery_codes

__all__ = ["consume_code", "count_unused", "release_code", "replace_codes"]


async def replace_codes(tx: Tx, authenticator_id: str, code_hashes: list[str], now: float) -> None:
    """Invalidate the old set and store the new one."""
    await tx.execute(
        delete(recovery_codes).where(recovery_codes.c.authenticator_id == authenticator_id)
    )
    await tx.execute(
        insert(recovery_codes),
        [
            {
                "id": new_id(),
                "authenticator_id": authenticator_id,
                "code_hash": h,
                "created_at": now,
            }
            for h in code_hashes
        ],
    )


async def consume_code(tx: Tx, authenticator_id: str, code_hash: str, now: float) -> bool:
    """Spend an unused code; True for exactly one of any number of racing callers."""
    stmt = (
        update(recovery_codes)
        .where(
            recovery_codes.c.authenticator_id == authenticator_id,
            recovery_codes.c.code_hash == code_hash,
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def release_code(tx: Tx, authenticator_id: str, code_hash: str) -> None:
    """Give back a code this transaction spent (a refusal that must still be recorded)."""
    stmt = (
        update(recovery_codes)
        .where(
            recovery_codes.c.authenticator_id == authenticator_id,
            recovery_codes.c.code_hash == code_hash,
        )
        .values(used_at=None)
    )
    await tx.execute(stmt)


async def count_unused(tx: Tx, authenticator_id: str) -> int:
    stmt = (
        select(func.count())
        .select_from(recovery_codes)
        .where(
            recovery_codes.c.authenticator_id == authenticator_id,
            recovery_codes.c.used_at.is_(None),
        )
    )
    return int((await tx.execute(stmt)).scalar_one())
