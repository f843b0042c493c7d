"""The counters of throttling: wrong guesses per end-user address and minute in an environment,
and consecutive wrong passwords per account; each settled in one statement."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Double, bindparam, case, delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from twostep.storage.db import Tx
from twostep.storage.tables import ip_failures, password_failures

__all__ = [
    "add_ip_failure",
    "clear_password_failures",
    "count_ip_failures",
    "delete_environment_counters",
    "delete_ip_failures_before",
    "password_locked_until",
    "record_password_failure",
]

_DIALECTS = {"postgresql": postgresql, "sqlite": sqlite}


def _ip_upsert(dialect: Any) -> Any:
    stmt = dialect.insert(ip_failures).values(
        environment_id=bindparam("env_id"), ip=bindparam("ip"), minute=bindparam("minute"), count=1
    )
    return stmt.on_conflict_do_update(
        index_elements=["environment_id", "ip", "minute"],
        set_={"count": ip_failures.c.count + 1},
    ).returning(ip_failures.c.count)


_IP_UPSERT = {name: _ip_upsert(dialect) for name, dialect in _DIALECTS.items()}
_IP_FORGET_OLD = delete(ip_failures).where(
    ip_failures.c.environment_id == bindparam("env_id"),
    ip_failures.c.ip == bindparam("ip"),
    ip_failures.c.minute < bindparam("minute"),
)


async def add_ip_failure(tx: Tx, environment_id: str, ip: str, minute: int) -> int:
    """Count a failure for ``ip`` in the environment this minute; returns the count so far."""
    params = {"env_id": environment_id, "ip": ip, "minute": minute}
    count = int((await tx.execute(_IP_UPSERT[tx.dialect.name], params)).scalar_one())
    if count == 1:
        # First failure of a new minute: forget the old windows of this address.
        await tx.execute(_IP_FORGET_OLD, params)
    return count


async def count_ip_failures(tx: Tx, environment_id: str, ip: str, minute: int) -> int:
    """The failures counted for ``ip`` in the environment this minute."""
    stmt = select(ip_failures.c.count).where(
        ip_failures.c.environment_id == environment_id,
        ip_failures.c.ip == ip,
        ip_failures.c.minute == minute,
    )
    return int((await tx.execute(stmt)).scalar() or 0)


@lru_cache(maxsize=16)
def _password_failure_statement(
    dialect_name: str, delays: tuple[tuple[int, int], ...], max_delay: int
) -> Any:
    """The back-off table as a SQL ``CASE`` (the shape of ``authenticators.record_failure``),
    in an upsert that leaves a locked row alone."""
    now: Any = bindparam("now", type_=Double())
    failures = password_failures.c.failures + 1
    delay = case(
        *[(failures == count, literal(seconds)) for count, seconds in delays],
        (failures > delays[-1][0], literal(max_delay)),
        else_=literal(0),
    )
    # A first failure never locks: the schedule starts at max_failures (5).
    stmt = (
        _DIALECTS[dialect_name]
        .insert(password_failures)
        .values(
            environment_id=bindparam("env_id"),
            subject=bindparam("subject"),
            failures=1,
            locked_until=0.0,
            last_failure_at=now,
        )
    )
    return stmt.on_conflict_do_update(
        index_elements=["environment_id", "subject"],
        set_={
            "failures": failures,
            "locked_until": case((delay > 0, now + delay), else_=password_failures.c.locked_until),
            "last_failure_at": now,
        },
        where=password_failures.c.locked_until <= now,
    ).returning(password_failures.c.failures)


_FORGET_QUIET = delete(password_failures).where(
    password_failures.c.environment_id == bindparam("env_id"),
    password_failures.c.last_failure_at < bindparam("before"),
    password_failures.c.locked_until <= bindparam("now"),
)


async def record_password_failure(
    tx: Tx,
    environment_id: str,
    subject: str,
    *,
    now: float,
    delays: tuple[tuple[int, int], ...],
    max_delay: int,
    forget_before: float,
) -> int | None:
    """Count one wrong password and lock per the back-off schedule, in one statement.

    Returns the new failure count, or None when the account was already locked (a concurrent
    failure locked it first). A new counter forgets the environment's quiet ones (no failure
    since ``forget_before``, no lock running), or those of unknown usernames would pile up.
    """
    stmt = _password_failure_statement(tx.dialect.name, delays, max_delay)
    params = {"env_id": environment_id, "subject": subject, "now": now}
    row = (await tx.execute(stmt, params)).first()
    if row is None:
        return None
    if row.failures == 1:
        await tx.execute(
            _FORGET_QUIET, {"env_id": environment_id, "before": forget_before, "now": now}
        )
    return int(row.failures)


async def password_locked_until(tx: Tx, environment_id: str, subject: str) -> float:
    """Until when the account's password is not evaluated (0 when it is not locked)."""
    stmt = select(password_failures.c.locked_until).where(
        password_failures.c.environment_id == environment_id,
        password_failures.c.subject == subject,
    )
    return float((await tx.execute(stmt)).scalar() or 0.0)


async def clear_password_failures(tx: Tx, environment_id: str, subject: str, *, now: float) -> bool:
    """A correct password: the count starts again, unless a concurrent failure locked the
    account meanwhile (then False, and the password must not be accepted)."""
    cleared = delete(password_failures).where(
        password_failures.c.environment_id == environment_id,
        password_failures.c.subject == subject,
        password_failures.c.locked_until <= now,
    )
    await tx.execute(cleared)
    return await password_locked_until(tx, environment_id, subject) <= now


async def delete_ip_failures_before(tx: Tx, minute: int) -> int:
    """Forget the windows of every address that started before ``minute`` (epoch minutes): an
    address that failed once and never came back would otherwise keep its row forever."""
    stmt = delete(ip_failures).where(ip_failures.c.minute < minute)
    return int((await tx.execute(stmt)).rowcount)


async def delete_environment_counters(tx: Tx, environment_ids: list[str]) -> None:
    """Forget every counter of environments that are gone (they have no foreign key)."""
    for table in (ip_failures, password_failures):
        await tx.execute(delete(table).where(table.c.environment_id.in_(environment_ids)))
