"""The sealed keys of an application's active authenticators, with the names of their users,
for an export."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from twostep.storage.db import Tx
from twostep.storage.tables import authenticators, users

__all__ = ["SealedKey", "sealed_active_keys"]


@dataclass(frozen=True, slots=True)
class SealedKey:
    """An active authenticator's sealed secret and parameters, and its user's names."""

    authenticator_id: str
    key_id: str
    ciphertext: bytes = field(repr=False)
    algorithm: str
    digits: int
    period: int
    user_id: str
    email: str | None
    username: str | None
    phone: str | None


async def sealed_active_keys(tx: Tx, application_id: str) -> list[SealedKey]:
    """Every active authenticator of the application, oldest first."""
    stmt = (
        select(
            authenticators.c.id,
            authenticators.c.key_id,
            authenticators.c.secret_ciphertext,
            authenticators.c.algorithm,
            authenticators.c.digits,
            authenticators.c.period,
            users.c.id.label("user_id"),
            users.c.email,
            users.c.username,
            users.c.phone,
        )
        .join(users, users.c.id == authenticators.c.user_id)
        .where(
            authenticators.c.application_id == application_id,
            authenticators.c.status == "active",
        )
        .order_by(authenticators.c.activated_at, authenticators.c.id)
    )
    return [
        SealedKey(
            row.id,
            row.key_id,
            bytes(row.secret_ciphertext),
            row.algorithm,
            row.digits,
            row.period,
            row.user_id,
            row.email,
            row.username,
            row.phone,
        )
        for row in await tx.execute(stmt)
    ]
