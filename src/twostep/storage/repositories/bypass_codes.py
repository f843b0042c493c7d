"""One-time bypass codes: one per user, stored as a keyed hash, spent by one statement."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from twostep.storage.db import Tx
from twostep.storage.tables import authenticators, bypass_codes, new_id

__all__ = ["NewBypassCode", "remove_all_authenticators", "replace_bypass_code", "spend_bypass_code"]


@dataclass(frozen=True, slots=True)
class NewBypassCode:
    user_id: str
    code_hash: str
    reason: str
    issued_by: str
    created_at: float
    expires_at: float


async def replace_bypass_code(tx: Tx, code: NewBypassCode) -> None:
    """Store the user's bypass code; one issued before (used or not) no longer works."""
    await tx.execute(delete(bypass_codes).where(bypass_codes.c.user_id == code.user_id))
    await tx.execute(
        insert(bypass_codes).values(
            id=new_id(),
            user_id=code.user_id,
            code_hash=code.code_hash,
            reason=code.reason,
            issued_by=code.issued_by,
            created_at=code.created_at,
            expires_at=code.expires_at,
        )
    )


async def spend_bypass_code(tx: Tx, user_id: str, code_hash: str, now: float) -> bool:
    """Spend the user's unexpired, unused code; True for exactly one of racing callers."""
    stmt = (
        update(bypass_codes)
        .where(
            bypass_codes.c.user_id == user_id,
            bypass_codes.c.code_hash == code_hash,
            bypass_codes.c.used_at.is_(None),
            bypass_codes.c.expires_at > now,
        )
        .values(used_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def remove_all_authenticators(tx: Tx, user_id: str) -> list[str]:
    """Delete every authenticator of the user (and so their recovery codes); their ids."""
    ids = list(
        (await tx.execute(select(authenticators.c.id).where(authenticators.c.user_id == user_id)))
        .scalars()
        .all()
    )
    if ids:
        await tx.execute(delete(authenticators).where(authenticators.c.id.in_(ids)))
    return ids
