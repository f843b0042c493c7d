"""Signing in: checking a password (argon2id, per-IP throttled) and the sessions a login issues."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from twostep.crypto import hash_api_key, new_api_key
from twostep.errors import AccountLocked, InvalidCredentials, LockedOut, NotAuthenticated
from twostep.services.audit import audit
from twostep.services.runtime import Actor, Runtime
from twostep.services.throttle import current_minute, note_ip_failure, refuse_if_over_limit
from twostep.storage.repositories import sessions
from twostep.storage.repositories.audit import count_ip_failures
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.sessions import UserSession
from twostep.storage.repositories.users import UserRecord, find_user_by_identifier
from twostep.storage.tables import new_id

__all__ = [
    "IssuedSession",
    "check_password",
    "end_session",
    "issue_session",
    "read_session",
    "session_csrf",
]

MAX_IDENTIFIER = 320
MAX_PASSWORD = 1024


async def check_password(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, identifier: str, password: str
) -> UserRecord:
    """The active user with this username (or email) and password, or InvalidCredentials.

    Unknown users cost the same argon2 time as a wrong password, so timing reveals nothing;
    a closed lock (spec 3.13) is told only to whoever knows the password.
    """
    identifier = identifier.strip()
    async with rt.db.transaction() as tx:
        if actor.ip is not None:
            refuse_if_over_limit(rt, await count_ip_failures(tx, actor.ip, current_minute(rt)))
        # No stored identifier has control characters (and PostgreSQL cannot even compare NUL).
        known = identifier.isprintable() and len(identifier) <= MAX_IDENTIFIER
        user = await find_user_by_identifier(tx, env.id, identifier) if known else None
    # argon2 runs in a thread, outside any transaction.
    valid: bool
    if user is None or user.password_hash is None or user.status != "active":
        valid = await rt.passwords.verify_dummy_async(password)
    else:
        valid = await rt.passwords.verify_async(user.password_hash, password)
    wait = None
    async with rt.db.transaction() as tx:
        if not valid:
            wait = await note_ip_failure(tx, rt, actor.ip)
        outcome = "ok" if valid else "invalid"
        await audit(
            tx,
            rt,
            actor,
            "login.password",
            outcome,
            environment_id=env.id,
            user_id=user.id if user else None,
        )
    if wait is not None:
        raise LockedOut(retry_after=wait, seconds=wait)
    if not valid or user is None:
        raise InvalidCredentials()
    if user.lock_closed:
        raise AccountLocked()
    return user


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str
    session: UserSession


async def issue_session(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    *,
    user_id: str,
    client_id: str,
    amr: list[str],
    auth_time: float,
) -> IssuedSession:
    """A bearer token for the signed-in user, valid for ``session_ttl_s``; shown once."""
    now = rt.clock.now()
    token = new_api_key("tss")
    session = UserSession(
        new_id(), env.id, user_id, client_id, amr, auth_time, now, now + rt.settings.session_ttl_s
    )
    async with rt.db.transaction() as tx:
        await sessions.insert_session(tx, session, hash_api_key(token))
        await audit(
            tx,
            rt,
            actor,
            "session.issue",
            "ok",
            environment_id=env.id,
            user_id=user_id,
            details={"amr": amr, "client_id": client_id},
        )
    return IssuedSession(token, session)


async def read_session(rt: Runtime, token: str | None) -> UserSession:
    """The live session of a bearer token, or NotAuthenticated."""
    if not token:
        raise NotAuthenticated()
    async with rt.db.transaction() as tx:
        session = await sessions.find_session(tx, hash_api_key(token), rt.clock.now())
    if session is None:
        raise NotAuthenticated()
    return session


async def end_session(rt: Runtime, token: str | None) -> None:
    """Sign out: the token stops working at once."""
    session = await read_session(rt, token)
    async with rt.db.transaction() as tx:
        await sessions.revoke_session(tx, hash_api_key(token or ""))
        await audit(
            tx,
            rt,
            Actor(f"user:{session.user_id}"),
            "session.end",
            "ok",
            environment_id=session.environment_id,
            user_id=session.user_id,
        )


def session_csrf(rt: Runtime, session: UserSession) -> str:
    """The CSRF token of a signed-in user's forms: bound to the session, derived, not stored."""
    message = f"page-csrf:{session.id}".encode()
    return hmac.new(rt.keyring.pepper, message, hashlib.sha256).hexdigest()
