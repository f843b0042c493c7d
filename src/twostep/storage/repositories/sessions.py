"""Signed-in user sessions, found by the SHA-256 of their bearer token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from twostep.storage.db import Tx
from twostep.storage.tables import user_sessions

__all__ = [
    "UserSession",
    "delete_expired",
    "find_session",
    "insert_session",
    "revoke_client_sessions",
    "revoke_session",
    "revoke_user_sessions",
]


@dataclass(frozen=True, slots=True)
class UserSession:
    id: str
    environment_id: str
    user_id: str
    client_id: str
    amr: list[str]
    auth_time: float
    created_at: float
    expires_at: float


async def insert_session(tx: Tx, session: UserSession, token_hash: str) -> None:
    await tx.execute(
        insert(user_sessions).values(
            id=session.id,
            environment_id=session.environment_id,
            user_id=session.user_id,
            token_hash=token_hash,
            client_id=session.client_id,
            amr=session.amr,
            auth_time=session.auth_time,
            created_at=session.created_at,
            expires_at=session.expires_at,
        )
    )


async def find_session(tx: Tx, token_hash: str, now: float) -> UserSession | None:
    """The live session of this token, if any."""
    stmt = select(user_sessions).where(
        user_sessions.c.token_hash == token_hash, user_sessions.c.expires_at > now
    )
    row = (await tx.execute(stmt)).first()
    if row is None:
        return None
    return UserSession(
        row.id,
        row.environment_id,
        row.user_id,
        row.client_id,
        list(row.amr),
        row.auth_time,
        row.created_at,
        row.expires_at,
    )


async def revoke_session(tx: Tx, token_hash: str) -> bool:
    stmt = delete(user_sessions).where(user_sessions.c.token_hash == token_hash)
    return (await tx.execute(stmt)).rowcount == 1


async def revoke_client_sessions(tx: Tx, environment_id: str, client_id: str) -> int:
    """End every session an application's logins issued (when the application is deleted)."""
    stmt = delete(user_sessions).where(
        user_sessions.c.environment_id == environment_id, user_sessions.c.client_id == client_id
    )
    return int((await tx.execute(stmt)).rowcount)


async def revoke_user_sessions(tx: Tx, user_id: str) -> int:
    """End every session of a user (when trust in them changes, spec 3b.8)."""
    stmt = delete(user_sessions).where(user_sessions.c.user_id == user_id)
    return int((await tx.execute(stmt)).rowcount)


async def delete_expired(tx: Tx, now: float, *, limit: int = 1000) -> int:
    expired = select(user_sessions.c.id).where(user_sessions.c.expires_at <= now).limit(limit)
    stmt = delete(user_sessions).where(user_sessions.c.id.in_(expired.scalar_subquery()))
    return int((await tx.execute(stmt)).rowcount)
