"""Users, and the claim behind the once-per-N-hours recovery-code rule."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from twostep.errors import Conflict
from twostep.storage.db import Tx
from twostep.storage.tables import new_id, users

__all__ = [
    "UserRecord",
    "UserStatus",
    "claim_recovery_window",
    "count_users",
    "delete_user",
    "find_user_by_identifier",
    "fold",
    "get_user",
    "insert_user",
    "list_users",
    "pair_lock",
    "set_lock_closed",
    "unpair_lock",
    "update_user",
]

UserStatus = Literal["active", "disabled"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    environment_id: str
    email: str | None
    username: str | None
    phone: str | None
    password_hash: str | None
    status: UserStatus
    recovery_used_at: float | None
    lock_paired_at: float | None
    lock_closed: bool
    created_at: float
    updated_at: float

    @property
    def may_sign_in(self) -> bool:
        """Active, and the owner's lock (spec 3.13) is open."""
        return self.status == "active" and not self.lock_closed


def _the_user(environment_id: str, user_id: str) -> ColumnElement[bool]:
    """The row of one user, only within its environment (an id alone never crosses tenants)."""
    return and_(users.c.environment_id == environment_id, users.c.id == user_id)


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=row.id,
        environment_id=row.environment_id,
        email=row.email,
        username=row.username,
        phone=row.phone,
        password_hash=row.password_hash,
        status=row.status,
        recovery_used_at=row.recovery_used_at,
        lock_paired_at=row.lock_paired_at,
        lock_closed=bool(row.lock_closed),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _conflict(exc: IntegrityError) -> Conflict:
    field = "email" if "email" in str(exc.orig) else "username"
    return Conflict("A user with this {field} already exists.", field=field)


async def insert_user(tx: Tx, *, environment_id: str, values: dict[str, Any], now: float) -> str:
    user_id = new_id()
    row = {
        "id": user_id,
        "environment_id": environment_id,
        "created_at": now,
        "updated_at": now,
        "search_key": _search_key(values.get(f) for f in _SEARCHED),
    }
    try:
        async with tx.begin_nested():
            await tx.execute(insert(users).values(**row, **values))
    except IntegrityError as exc:
        raise _conflict(exc) from exc
    return user_id


async def get_user(tx: Tx, environment_id: str, user_id: str) -> UserRecord | None:
    stmt = select(users).where(_the_user(environment_id, user_id))
    row = (await tx.execute(stmt)).first()
    return None if row is None else _user(row)


async def find_user_by_identifier(
    tx: Tx, environment_id: str, identifier: str
) -> UserRecord | None:
    """A user by username, or by email (case-insensitive)."""
    stmt = select(users).where(
        users.c.environment_id == environment_id,
        or_(users.c.username == identifier, users.c.email == identifier.lower()),
    )
    row = (await tx.execute(stmt)).first()
    return None if row is None else _user(row)


def _escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (with ``\\`` as the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SEARCHED = ("email", "username", "phone")


def fold(text: str) -> str:
    """``text`` without case or accents (``ÉLODIE`` and ``elodie`` alike): done here, in
    Python, because SQLite's ``lower()`` folds ASCII only."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _search_key(parts: Any) -> str:
    return "\n".join(fold(p) for p in parts if p)


def _in_environment(environment_id: str, q: str | None) -> ColumnElement[bool]:
    """The users of an environment; with ``q``, those whose email, username or phone contains
    it (case- and accent-insensitive, wildcards taken literally)."""
    where = users.c.environment_id == environment_id
    # Control characters (the key's line breaks among them) never match across two fields.
    folded = "".join(c for c in fold(q or "") if c.isprintable())
    if not folded:
        return where
    pattern = f"%{_escape_like(folded)}%"
    return and_(where, users.c.search_key.like(pattern, escape="\\"))


async def list_users(
    tx: Tx, environment_id: str, *, offset: int, limit: int, q: str | None = None
) -> list[UserRecord]:
    stmt = (
        select(users)
        .where(_in_environment(environment_id, q))
        .order_by(users.c.created_at, users.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [_user(row) for row in await tx.execute(stmt)]


async def count_users(tx: Tx, environment_id: str, q: str | None = None) -> int:
    stmt = select(func.count()).select_from(users).where(_in_environment(environment_id, q))
    return int((await tx.execute(stmt)).scalar_one())


async def update_user(
    tx: Tx, environment_id: str, user_id: str, values: dict[str, Any], now: float
) -> bool:
    stmt = update(users).where(_the_user(environment_id, user_id)).values(**values, updated_at=now)
    try:
        async with tx.begin_nested():
            result = await tx.execute(stmt)
    except IntegrityError as exc:
        raise _conflict(exc) from exc
    if result.rowcount == 1 and any(f in values for f in _SEARCHED):
        await _refresh_search_key(tx, environment_id, user_id)
    return result.rowcount == 1


async def _refresh_search_key(tx: Tx, environment_id: str, user_id: str) -> None:
    which = _the_user(environment_id, user_id)
    row = (await tx.execute(select(*(users.c[f] for f in _SEARCHED)).where(which))).one()
    await tx.execute(update(users).where(which).values(search_key=_search_key(row)))


async def delete_user(tx: Tx, environment_id: str, user_id: str) -> bool:
    stmt = delete(users).where(_the_user(environment_id, user_id))
    return (await tx.execute(stmt)).rowcount == 1


async def claim_recovery_window(tx: Tx, user_id: str, *, now: float, window_s: float) -> bool:
    """Mark a recovery-code use now, unless one was used within ``window_s``; atomic."""
    stmt = (
        update(users)
        .where(
            users.c.id == user_id,
            or_(users.c.recovery_used_at.is_(None), users.c.recovery_used_at <= now - window_s),
        )
        .values(recovery_used_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def pair_lock(tx: Tx, environment_id: str, user_id: str, now: float) -> bool:
    """Pair an (open) lock unless one is paired already; atomic."""
    stmt = (
        update(users)
        .where(
            _the_user(environment_id, user_id),
            users.c.lock_paired_at.is_(None),
        )
        .values(lock_paired_at=now, lock_closed=False)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def set_lock_closed(tx: Tx, environment_id: str, user_id: str, closed: bool) -> bool:
    """Open or close a paired lock; False when no lock is paired."""
    stmt = (
        update(users)
        .where(
            _the_user(environment_id, user_id),
            users.c.lock_paired_at.is_not(None),
        )
        .values(lock_closed=closed)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def unpair_lock(tx: Tx, environment_id: str, user_id: str) -> bool:
    """Forget the lock; False when none was paired."""
    stmt = (
        update(users)
        .where(
            _the_user(environment_id, user_id),
            users.c.lock_paired_at.is_not(None),
        )
        .values(lock_paired_at=None, lock_closed=False)
    )
    return (await tx.execute(stmt)).rowcount == 1
