"""Authenticators: enrollment, the atomic replay claim and failure counting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Double,
    Integer,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from twostep.policy import AuthConfig, parse_config
from twostep.storage.db import Tx
from twostep.storage.repositories.users import UserStatus
from twostep.storage.tables import (
    applications,
    authenticators,
    environments,
    recovery_codes,
    users,
)

__all__ = [
    "ActiveAuthenticator",
    "AuthenticatorRecord",
    "AuthenticatorStatus",
    "TwoFactorState",
    "VerifyContext",
    "activate",
    "active_authenticators",
    "clear_failures",
    "count_sealed_under",
    "decide",
    "decide_parameters",
    "decide_statement",
    "delete_authenticator",
    "delete_user_authenticators",
    "get_authenticator",
    "get_authenticator_by_id",
    "insert_authenticator",
    "load_verify_context",
    "reseal",
    "save_drift",
    "sealed_not_under",
    "two_factor_states",
    "verify_context_of",
    "verify_context_parameters",
    "verify_context_statement",
]

# Pending until its first code is confirmed (spec 3.3).
AuthenticatorStatus = Literal["pending", "active"]


@dataclass(frozen=True, slots=True)
class AuthenticatorRecord:
    id: str
    user_id: str
    application_id: str
    status: AuthenticatorStatus
    key_id: str
    secret_ciphertext: bytes
    algorithm: str
    digits: int
    period: int
    last_step: int
    failures: int
    locked_until: float
    created_at: float
    activated_at: float | None
    drift_steps: int = 0
    recent_offsets: str = ""


@dataclass(frozen=True, slots=True)
class VerifyContext:
    """What a code check needs, read in one query: the authenticator and its environment's
    config (current: read with it, parsed when this was built)."""

    authenticator: AuthenticatorRecord | None
    user_status: UserStatus
    config: AuthConfig
    lock_closed: bool


# By name, once: walking the table's column collection costs more than reading the row.
_COLUMNS = tuple(c.name for c in authenticators.c)


def _authenticator(values: Mapping[Any, Any], prefix: str = "") -> AuthenticatorRecord:
    """A record from a result row's columns, whose names may carry a label prefix."""
    fields = {name: values[f"{prefix}{name}"] for name in _COLUMNS}
    fields["secret_ciphertext"] = bytes(fields["secret_ciphertext"])
    return AuthenticatorRecord(**fields)


async def get_authenticator(
    tx: Tx, user_id: str, application_id: str
) -> AuthenticatorRecord | None:
    stmt = select(authenticators).where(
        authenticators.c.user_id == user_id, authenticators.c.application_id == application_id
    )
    row = (await tx.execute(stmt)).first()
    return None if row is None else _authenticator(row._mapping)


async def get_authenticator_by_id(tx: Tx, authenticator_id: str) -> AuthenticatorRecord | None:
    stmt = select(authenticators).where(authenticators.c.id == authenticator_id)
    row = (await tx.execute(stmt)).first()
    return None if row is None else _authenticator(row._mapping)


def _sign_in_choice(by_client_id: bool) -> Any:
    """The id of the authenticator a sign-in to the application asks (spec 3b.1): its own
    active one, else the default application's, else the user's oldest; never a pending one."""
    candidate = authenticators.alias("candidate")
    candidate_app = applications.alias("candidate_app")
    # Ranked by the bound client_id, not by the joined application: SQLite does not resolve
    # that table from a subquery in the ON clause.
    own = [(candidate_app.c.client_id == bindparam("client_id"), 0)] if by_client_id else []
    rank = case(*own, (candidate_app.c.is_default.is_(True), 1), else_=2)
    return (
        select(candidate.c.id)
        .join(candidate_app, candidate_app.c.id == candidate.c.application_id)
        .where(candidate.c.user_id == users.c.id, candidate.c.status == "active")
        .order_by(rank, candidate.c.created_at, candidate.c.id)
        .limit(1)
        .correlate(users)
        .scalar_subquery()
    )


def _verify_context_statement(by_client_id: bool, sign_in: bool) -> Any:
    app_match = (
        applications.c.client_id == bindparam("client_id")
        if by_client_id
        else applications.c.is_default.is_(True)
    )
    which = (
        authenticators.c.id == _sign_in_choice(by_client_id)
        if sign_in
        else (authenticators.c.user_id == users.c.id)
        & (authenticators.c.application_id == applications.c.id)
    )
    return (
        select(
            users.c.status.label("user_status"),
            users.c.lock_closed,
            environments.c.auth_config,
            *[c.label(f"a_{c.name}") for c in authenticators.c],
        )
        .select_from(users)
        .join(environments, environments.c.id == users.c.environment_id)
        .join(
            applications,
            (applications.c.environment_id == users.c.environment_id) & app_match,
        )
        .outerjoin(authenticators, which)
        .where(users.c.id == bindparam("user_id"), users.c.environment_id == bindparam("env_id"))
    )


# Built once: this is the hot path of every code check. Keyed by (by client_id, sign-in rule).
_VERIFY_CONTEXT = {
    (by_client_id, sign_in): _verify_context_statement(by_client_id, sign_in)
    for by_client_id in (False, True)
    for sign_in in (False, True)
}


def verify_context_statement(by_client_id: bool, sign_in: bool) -> Any:
    """The one query of ``load_verify_context`` (shared with the driver-level hot path)."""
    return _VERIFY_CONTEXT[(by_client_id, sign_in)]


def verify_context_parameters(
    environment_id: str, user_id: str, client_id: str | None
) -> dict[str, Any]:
    params: dict[str, Any] = {"user_id": user_id, "env_id": environment_id}
    if client_id is not None:
        params["client_id"] = client_id
    return params


def verify_context_of(values: Mapping[Any, Any]) -> VerifyContext:
    """The context from the columns of ``verify_context_statement`` by label."""
    authenticator = None if values["a_id"] is None else _authenticator(values, "a_")
    return VerifyContext(
        authenticator,
        values["user_status"],
        parse_config(values["auth_config"]),
        bool(values["lock_closed"]),
    )


async def load_verify_context(
    tx: Tx,
    environment_id: str,
    user_id: str,
    client_id: str | None,
    *,
    sign_in: bool = False,
) -> VerifyContext | None:
    """The user's authenticator for the application (default one if None) and the
    environment's config, in one query; None if no such user.

    ``sign_in`` picks the authenticator a sign-in to the application asks instead of the
    application's own (spec 3b.1); without it, a pending one of the application is returned too.
    """
    statement = verify_context_statement(client_id is not None, sign_in)
    params = verify_context_parameters(environment_id, user_id, client_id)
    row = (await tx.execute(statement, params)).first()
    return None if row is None else verify_context_of(row._mapping)


async def insert_authenticator(tx: Tx, values: dict[str, Any]) -> bool:
    """Insert a new authenticator; False when the user already has one for the application."""
    try:
        async with tx.begin_nested():
            await tx.execute(insert(authenticators).values(**values))
    except IntegrityError:
        return False
    return True


async def delete_authenticator(
    tx: Tx, authenticator_id: str, *, status: AuthenticatorStatus | None = None
) -> bool:
    stmt = delete(authenticators).where(authenticators.c.id == authenticator_id)
    if status is not None:
        stmt = stmt.where(authenticators.c.status == status)
    return (await tx.execute(stmt)).rowcount == 1


async def activate(tx: Tx, authenticator_id: str, *, step: int, now: float) -> bool:
    """Pending -> active on the first valid code, claiming its step; atomic."""
    stmt = (
        update(authenticators)
        .where(
            authenticators.c.id == authenticator_id,
            authenticators.c.status == "pending",
            authenticators.c.last_step < step,
        )
        .values(status="active", last_step=step, activated_at=now, failures=0, locked_until=0.0)
    )
    return (await tx.execute(stmt)).rowcount == 1


@lru_cache(maxsize=128)
def decide_statement(delays: tuple[tuple[int, int], ...], max_delay: int) -> Any:
    """The one conditional UPDATE that settles a code check (``decide``); built once per
    back-off table. Parameters: ``authenticator_id``, ``now``, ``suspend_after``, ``matched``
    (1 when the code matched ``step``, else 0) and ``step``."""
    matched = bindparam("matched", type_=Integer()) == 1
    step: Any = bindparam("step", type_=BigInteger())
    now: Any = bindparam("now", type_=Double())
    new_failures = authenticators.c.failures + 1
    delay = case(
        *[(new_failures == count, literal(seconds)) for count, seconds in delays],
        (new_failures > delays[-1][0], literal(max_delay)),
        else_=literal(0),
    )
    return (
        update(authenticators)
        .where(
            authenticators.c.id == bindparam("authenticator_id"),
            # Locked or suspended: refused without a trace of what the code was.
            authenticators.c.locked_until <= now,
            authenticators.c.failures < bindparam("suspend_after", type_=Integer()),
            # A claim only moves the replay floor up.
            ~matched | (authenticators.c.last_step < step),
        )
        .values(
            last_step=case((matched, step), else_=authenticators.c.last_step),
            failures=case((matched, literal(0)), else_=new_failures),
            locked_until=case(
                (~matched & (delay > 0), now + delay), else_=authenticators.c.locked_until
            ),
        )
        .returning(authenticators.c.failures)
    )


async def decide(
    tx: Tx,
    authenticator_id: str,
    *,
    step: int | None,
    now: float,
    delays: tuple[tuple[int, int], ...],
    max_delay: int,
    suspend_after: int,
) -> int | None:
    """Settle one code check in one statement: claim ``step`` (the code matched it) or count a
    failure (``step`` None, locking per the back-off schedule), unless the authenticator is
    locked or suspended, or the step is spent: then None, and nothing changed.

    ``delays`` maps a failure count to its lock in seconds (``otp.backoff.delay_table``);
    counts past the table lock for ``max_delay``. Returns the failure count after the check:
    0 for a claim.
    """
    stmt = decide_statement(delays, max_delay)
    row = (
        await tx.execute(stmt, decide_parameters(authenticator_id, step, now, suspend_after))
    ).first()
    return None if row is None else int(row.failures)


def decide_parameters(
    authenticator_id: str, step: int | None, now: float, suspend_after: int
) -> dict[str, Any]:
    """The bound values of ``decide_statement`` (shared with the driver-level hot path)."""
    return {
        "authenticator_id": authenticator_id,
        "now": now,
        "suspend_after": suspend_after,
        "matched": 0 if step is None else 1,
        "step": -1 if step is None else step,
    }


async def save_drift(tx: Tx, authenticator_id: str, *, steps: int, recent: str) -> None:
    """Store the learned window centre and the offsets of the last accepted codes."""
    await tx.execute(
        update(authenticators)
        .where(authenticators.c.id == authenticator_id)
        .values(drift_steps=steps, recent_offsets=recent)
    )


async def clear_failures(tx: Tx, authenticator_id: str) -> None:
    await tx.execute(
        update(authenticators)
        .where(authenticators.c.id == authenticator_id)
        .values(failures=0, locked_until=0.0)
    )


async def sealed_not_under(tx: Tx, key_id: str, *, limit: int) -> list[tuple[str, str, bytes]]:
    """(id, key_id, ciphertext) of authenticators sealed under another key than ``key_id``."""
    stmt = (
        select(authenticators.c.id, authenticators.c.key_id, authenticators.c.secret_ciphertext)
        .where(authenticators.c.key_id != key_id)
        .limit(limit)
    )
    return [(r.id, r.key_id, bytes(r.secret_ciphertext)) for r in await tx.execute(stmt)]


async def reseal(
    tx: Tx, authenticator_id: str, *, old_key_id: str, key_id: str, blob: bytes
) -> bool:
    """Store a rewrapped secret unless the row changed meanwhile (re-enrolled or rotated)."""
    stmt = (
        update(authenticators)
        .where(authenticators.c.id == authenticator_id, authenticators.c.key_id == old_key_id)
        .values(key_id=key_id, secret_ciphertext=blob)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def count_sealed_under(tx: Tx, key_id: str) -> int:
    stmt = select(func.count()).select_from(authenticators).where(authenticators.c.key_id == key_id)
    return int((await tx.execute(stmt)).scalar_one())


@dataclass(frozen=True, slots=True)
class TwoFactorState:
    """What an admin sees of a user's authenticator: no secret, only its state."""

    authenticator_id: str
    status: AuthenticatorStatus
    activated_at: float | None
    recovery_codes_left: int
    drift_s: int = 0  # the learned clock drift in seconds (negative: the device runs late)


async def two_factor_states(
    tx: Tx, user_ids: list[str], application_id: str
) -> dict[str, TwoFactorState]:
    """The authenticator state of each of ``user_ids`` that has one, in one query."""
    if not user_ids:
        return {}
    codes_left = (
        select(func.count())
        .select_from(recovery_codes)
        .where(
            recovery_codes.c.authenticator_id == authenticators.c.id,
            recovery_codes.c.used_at.is_(None),
        )
        .scalar_subquery()
    )
    stmt = select(
        authenticators.c.user_id,
        authenticators.c.id,
        authenticators.c.status,
        authenticators.c.activated_at,
        codes_left.label("codes_left"),
        (authenticators.c.drift_steps * authenticators.c.period).label("drift_s"),
    ).where(
        authenticators.c.user_id.in_(user_ids),
        authenticators.c.application_id == application_id,
    )
    return {
        row.user_id: TwoFactorState(
            row.id, row.status, row.activated_at, int(row.codes_left), int(row.drift_s)
        )
        for row in await tx.execute(stmt)
    }


async def delete_user_authenticators(tx: Tx, user_id: str) -> int:
    """Remove every authenticator of a user (their recovery codes go with them)."""
    stmt = delete(authenticators).where(authenticators.c.user_id == user_id)
    return int((await tx.execute(stmt)).rowcount)


@dataclass(frozen=True, slots=True)
class ActiveAuthenticator:
    """One of a user's active authenticators, named by its application (no secret)."""

    application_name: str
    client_id: str
    activated_at: float | None
    recovery_codes_left: int


async def active_authenticators(tx: Tx, user_id: str) -> list[ActiveAuthenticator]:
    """The user's active authenticators with their applications, oldest first."""
    codes_left = (
        select(func.count())
        .select_from(recovery_codes)
        .where(
            recovery_codes.c.authenticator_id == authenticators.c.id,
            recovery_codes.c.used_at.is_(None),
        )
        .scalar_subquery()
    )
    stmt = (
        select(
            applications.c.name,
            applications.c.client_id,
            authenticators.c.activated_at,
            codes_left.label("codes_left"),
        )
        .join(applications, applications.c.id == authenticators.c.application_id)
        .where(authenticators.c.user_id == user_id, authenticators.c.status == "active")
        .order_by(authenticators.c.created_at, authenticators.c.id)
    )
    return [
        ActiveAuthenticator(row.name, row.client_id, row.activated_at, int(row.codes_left))
        for row in await tx.execute(stmt)
    ]
