"""Remembered devices, found by the SHA-256 of their cookie's token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from twostep.storage.db import Tx
from twostep.storage.tables import remembered_devices

__all__ = [
    "RememberedDevice",
    "delete_device",
    "delete_expired_devices",
    "delete_user_devices",
    "device_expiry",
    "insert_device",
    "list_devices",
    "use_device",
]

_t = remembered_devices


@dataclass(frozen=True, slots=True)
class RememberedDevice:
    id: str
    environment_id: str
    user_id: str
    agent: str
    created_at: float
    last_used_at: float
    expires_at: float


async def insert_device(tx: Tx, device: RememberedDevice, token_hash: str) -> bool:
    """Store the device; False (nothing stored) when its token was ever used before."""
    taken = select(_t.c.id).where(_t.c.token_hash == token_hash)
    if (await tx.execute(taken)).first() is not None:
        return False
    await tx.execute(
        insert(_t).values(
            id=device.id,
            environment_id=device.environment_id,
            user_id=device.user_id,
            token_hash=token_hash,
            agent=device.agent,
            created_at=device.created_at,
            last_used_at=device.last_used_at,
            expires_at=device.expires_at,
        )
    )
    return True


async def use_device(
    tx: Tx, token_hash: str, *, environment_id: str, user_id: str, now: float
) -> bool:
    """Whether the token names a live device of this user in this environment; if so, it was
    used now (one statement: a revoked or expired device matches nothing)."""
    stmt = (
        update(_t)
        .where(
            _t.c.token_hash == token_hash,
            _t.c.environment_id == environment_id,
            _t.c.user_id == user_id,
            _t.c.expires_at > now,
        )
        .values(last_used_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def device_expiry(tx: Tx, token_hash: str, now: float) -> float | None:
    """When the live device of this token expires; None when there is none."""
    stmt = select(_t.c.expires_at).where(_t.c.token_hash == token_hash, _t.c.expires_at > now)
    return (await tx.execute(stmt)).scalar_one_or_none()


async def list_devices(
    tx: Tx, *, environment_id: str, user_id: str, now: float
) -> list[RememberedDevice]:
    """The user's live devices in the environment, most recently used first."""
    stmt = (
        select(_t)
        .where(
            _t.c.environment_id == environment_id, _t.c.user_id == user_id, _t.c.expires_at > now
        )
        .order_by(_t.c.last_used_at.desc(), _t.c.id)
    )
    return [
        RememberedDevice(
            r.id,
            r.environment_id,
            r.user_id,
            r.agent,
            r.created_at,
            r.last_used_at,
            r.expires_at,
        )
        for r in (await tx.execute(stmt)).all()
    ]


async def delete_device(tx: Tx, device_id: str, *, environment_id: str, user_id: str) -> bool:
    stmt = delete(_t).where(
        _t.c.id == device_id, _t.c.environment_id == environment_id, _t.c.user_id == user_id
    )
    return (await tx.execute(stmt)).rowcount == 1


async def delete_user_devices(tx: Tx, user_id: str) -> list[tuple[str, str]]:
    """Forget every device of a user (when trust in them changes): their ids and
    environments."""
    stmt = select(_t.c.id, _t.c.environment_id).where(_t.c.user_id == user_id)
    gone = [(row.id, row.environment_id) for row in (await tx.execute(stmt)).all()]
    if gone:
        await tx.execute(delete(_t).where(_t.c.id.in_([device_id for device_id, _ in gone])))
    return gone


async def delete_expired_devices(tx: Tx, now: float, *, limit: int = 1000) -> int:
    expired = select(_t.c.id).where(_t.c.expires_at <= now).limit(limit)
    stmt = delete(_t).where(_t.c.id.in_(expired.scalar_subquery()))
    return int((await tx.execute(stmt)).rowcount)
