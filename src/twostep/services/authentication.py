"""Signing in: checking a password (argon2id, throttled per address and per account) and the
sessions a login issues."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from twostep.crypto import hash_api_key, keyed_digest, new_api_key
from twostep.errors import AccountLocked, InvalidCredentials, LockedOut, NotAuthenticated
from twostep.otp.backoff import delay_table
from twostep.services.audit import audit
from twostep.services.decision import Decision, accepted, refused
from twostep.services.runtime import Actor, Runtime
from twostep.services.throttle import (
    RATE_LIMITED,
    TOO_MANY_ATTEMPTS,
    address_refusal,
    note_ip_failure,
)
from twostep.storage import Tx
from twostep.storage.repositories import sessions
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.sessions import UserSession
from twostep.storage.repositories.throttle import (
    clear_password_failures,
    password_locked_until,
    record_password_failure,
)
from twostep.storage.repositories.users import UserRecord, find_user_by_identifier
from twostep.storage.tables import new_id

__all__ = [
    "MAX_IDENTIFIER",
    "MAX_PASSWORD",
    "PASSWORD_MAX_DELAY",
    "PASSWORD_MAX_FAILURES",
    "PASSWORD_QUIET_S",
    "IssuedSession",
    "check_password",
    "end_session",
    "issue_session",
    "read_session",
    "session_csrf",
]

MAX_IDENTIFIER = 320
MAX_PASSWORD = 1024
# Wrong passwords per account (spec 3b.4): the codes' schedule, 5 -> 30 s doubling, capped.
PASSWORD_MAX_FAILURES = 5
PASSWORD_MAX_DELAY = 15 * 60
# A counter with no failure for a day and no lock running is forgotten.
PASSWORD_QUIET_S = 86400


async def check_password(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, identifier: str, password: str
) -> UserRecord:
    """The active user with this username (or email) and password, or InvalidCredentials.

    Unknown users cost the same argon2 time as a wrong password, so timing reveals nothing;
    a closed lock (spec 3.13) is told only to whoever knows the password. Wrong passwords are
    counted per account across journeys (spec 3b.4), unknown usernames exactly alike; while
    the account is locked, or the end user's address used up its minute, the password is not
    evaluated and the answer is ``locked_out`` ("Too many attempts").
    """
    identifier = identifier.strip()
    async with rt.db.transaction() as tx:
        # No stored identifier has control characters (and PostgreSQL cannot even compare NUL).
        known = identifier.isprintable() and len(identifier) <= MAX_IDENTIFIER
        user = await find_user_by_identifier(tx, env.id, identifier) if known else None
        subject = _password_subject(rt, env, identifier, user)
        refusal = await _refusal(tx, rt, actor, env, subject)
        if refusal is not None:
            await audit(tx, rt, actor, "login.password", refusal.outcome, **_about(env, user))
    if refusal is not None:
        refusal.raise_refusal()
    # argon2 runs in a thread, outside any transaction.
    valid: bool
    if user is None or user.password_hash is None or user.status != "active":
        valid = await rt.passwords.verify_dummy_async(password)
    else:
        valid = await rt.passwords.verify_async(user.password_hash, password)
    async with rt.db.transaction() as tx:
        decision = await _count(tx, rt, actor, env, subject, valid=valid and user is not None)
        if decision is None:
            decision = _verdict(user if valid else None)
        await audit(tx, rt, actor, "login.password", decision.outcome, **_about(env, user))
    decision.raise_refusal()
    assert user is not None  # a decision without refusal names the user
    return user


def _verdict(user: UserRecord | None) -> Decision:
    """The answer to an evaluated password (``user`` when it was right); a closed lock
    (spec 3.13) is told only to whoever knows the password."""
    if user is None:
        return refused("invalid", InvalidCredentials())
    if user.lock_closed:
        return refused("ok", AccountLocked())
    return accepted()


def _locked(wait: int) -> Decision:
    return refused("locked", LockedOut(TOO_MANY_ATTEMPTS, retry_after=wait, seconds=wait))


def _rate_limited(wait: int) -> Decision:
    return refused(RATE_LIMITED, LockedOut(TOO_MANY_ATTEMPTS, retry_after=wait, seconds=wait))


def _about(env: EnvironmentRecord, user: UserRecord | None) -> dict[str, Any]:
    return {"environment_id": env.id, "user_id": user.id if user else None}


def _password_subject(
    rt: Runtime, env: EnvironmentRecord, identifier: str, user: UserRecord | None
) -> str:
    """What wrong passwords are counted against: the user, or (for an identifier that names
    no one) a keyed hash of it, so an unknown username locks like a known one."""
    if user is not None:
        return f"user:{user.id}"
    digest = keyed_digest(rt.keyring.pepper, "password-subject", env.id, identifier.casefold())
    return "unknown:" + digest


async def _refusal(
    tx: Tx, rt: Runtime, actor: Actor, env: EnvironmentRecord, subject: str
) -> Decision | None:
    """The refusal of an attempt that must not be evaluated at all (address or account locked)."""
    wait = await address_refusal(tx, rt, actor, env)
    if wait is not None:
        return _rate_limited(wait)
    now = rt.clock.now()
    locked_until = await password_locked_until(tx, env.id, subject)
    return _locked(math.ceil(locked_until - now)) if locked_until > now else None


async def _count(
    tx: Tx, rt: Runtime, actor: Actor, env: EnvironmentRecord, subject: str, *, valid: bool
) -> Decision | None:
    """Count the evaluated attempt; the lock's refusal when it must be answered with the lock
    instead of its result (a concurrent attempt locked the account, or the address's limit)."""
    now = rt.clock.now()
    if valid:
        if await clear_password_failures(tx, env.id, subject, now=now):
            return None
    else:
        failures = await record_password_failure(
            tx,
            env.id,
            subject,
            now=now,
            delays=delay_table(PASSWORD_MAX_FAILURES, PASSWORD_MAX_DELAY),
            max_delay=PASSWORD_MAX_DELAY,
            forget_before=now - PASSWORD_QUIET_S,
        )
        wait = await note_ip_failure(tx, rt, actor, env)
        if failures is not None:
            return None if wait is None else _rate_limited(wait)
    locked_until = await password_locked_until(tx, env.id, subject)
    return _locked(max(1, math.ceil(locked_until - now)))


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
    return keyed_digest(rt.keyring.pepper, "page-csrf", session.id)
