"""The audit trail and the per-IP failure counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from twostep.storage.db import Tx
from twostep.storage.tables import audit_events, ip_failures

__all__ = ["AuditEvent", "add_ip_failure", "count_ip_failures", "list_events", "record_event"]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: float
    environment_id: str | None
    actor: str
    action: str
    user_id: str | None
    outcome: str
    ip: str | None
    details: dict[str, Any] | None = None


_INSERT_EVENT = insert(audit_events)


async def record_event(tx: Tx, event: AuditEvent) -> None:
    await tx.execute(
        _INSERT_EVENT,
        {
            "at": event.at,
            "environment_id": event.environment_id,
            "actor": event.actor,
            "action": event.action,
            "user_id": event.user_id,
            "outcome": event.outcome,
            "ip": event.ip,
            "details": event.details,
        },
    )


async def list_events(
    tx: Tx, environment_id: str, *, user_id: str | None = None, limit: int = 100
) -> list[AuditEvent]:
    stmt = select(audit_events).where(audit_events.c.environment_id == environment_id)
    if user_id is not None:
        stmt = stmt.where(audit_events.c.user_id == user_id)
    stmt = stmt.order_by(audit_events.c.id.desc()).limit(limit)
    return [
        AuditEvent(r.at, r.environment_id, r.actor, r.action, r.user_id, r.outcome, r.ip, r.details)
        for r in await tx.execute(stmt)
    ]


def _ip_upsert(dialect: Any) -> Any:
    stmt = dialect.insert(ip_failures).values(
        ip=bindparam("ip"), minute=bindparam("minute"), count=1
    )
    return stmt.on_conflict_do_update(
        index_elements=["ip", "minute"], set_={"count": ip_failures.c.count + 1}
    ).returning(ip_failures.c.count)


_IP_UPSERT = {"postgresql": _ip_upsert(postgresql), "sqlite": _ip_upsert(sqlite)}
_IP_FORGET_OLD = delete(ip_failures).where(
    ip_failures.c.ip == bindparam("ip"), ip_failures.c.minute < bindparam("minute")
)


async def add_ip_failure(tx: Tx, ip: str, minute: int) -> int:
    """Count a failure for ``ip`` in this minute; returns the minute's count so far."""
    params = {"ip": ip, "minute": minute}
    count = int((await tx.execute(_IP_UPSERT[tx.dialect.name], params)).scalar_one())
    if count == 1:
        # First failure of a new minute: forget the old windows of this address.
        await tx.execute(_IP_FORGET_OLD, params)
    return count


async def count_ip_failures(tx: Tx, ip: str, minute: int) -> int:
    """The failures counted for ``ip`` in this minute."""
    stmt = select(ip_failures.c.count).where(ip_failures.c.ip == ip, ip_failures.c.minute == minute)
    return int((await tx.execute(stmt)).scalar() or 0)
