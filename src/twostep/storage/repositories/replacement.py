"""Replacing an authenticator's key in place (a new phone), in one statement."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from twostep.storage.db import Tx
from twostep.storage.tables import authenticators

__all__ = ["NewKey", "replace_key"]


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    secret_ciphertext: bytes
    algorithm: str
    digits: int
    period: int


async def replace_key(tx: Tx, authenticator_id: str, key: NewKey, *, step: int, now: float) -> bool:
    """The active authenticator's new key, its first code's step as the replay floor, its
    failure count and learned drift cleared; the old key stops working at once. False if it is not active."""
    stmt = (
        update(authenticators)
        .where(authenticators.c.id == authenticator_id, authenticators.c.status == "active")
        .values(
            key_id=key.key_id,
            secret_ciphertext=key.secret_ciphertext,
            algorithm=key.algorithm,
            digits=key.digits,
            period=key.period,
            last_step=step,
            failures=0,
            locked_until=0.0,
            activated_at=now,
            # A new phone has a clock of its own: what was learned of the old one goes.
            drift_steps=0,
            recent_offsets="",
        )
    )
    return (await tx.execute(stmt)).rowcount == 1
