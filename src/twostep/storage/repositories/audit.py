"""The audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select

from twostep.storage.db import Tx
from twostep.storage.tables import audit_events

__all__ = ["AuditEvent", "AuditFilter", "delete_events_before", "list_events", "record_event"]


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
    # The row's id once stored (0 before): with ``at``, where a page of the trail ends.
    id: int = 0


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events of an environment: each field set narrows; ``since`` inclusive, ``until``
    exclusive; ``before`` a position ``(at, id)``: only events older than it (a cursor)."""

    user_id: str | None = None
    action: str | None = None
    since: float | None = None
    until: float | None = None
    before: tuple[float, int] | None = None


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


def _matching(environment_id: str, f: AuditFilter) -> list[ColumnElement[bool]]:
    c = audit_events.c
    where = [c.environment_id == environment_id]
    if f.user_id is not None:
        where.append(c.user_id == f.user_id)
    if f.action is not None:
        where.append(c.action == f.action)
    if f.since is not None:
        where.append(c.at >= f.since)
    if f.until is not None:
        where.append(c.at < f.until)
    if f.before is not None:
        at, row_id = f.before
        where.append(or_(c.at < at, and_(c.at == at, c.id < row_id)))
    return where


async def list_events(
    tx: Tx, environment_id: str, where: AuditFilter | None = None, *, limit: int = 100
) -> list[AuditEvent]:
    """Newest first by (time, id): a total order, so that a page ends at a stable position
    whatever is inserted meanwhile."""
    stmt = (
        select(audit_events)
        .where(*_matching(environment_id, where or AuditFilter()))
        .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        .limit(limit)
    )
    return [
        AuditEvent(
            r.at, r.environment_id, r.actor, r.action, r.user_id, r.outcome, r.ip, r.details, r.id
        )
        for r in await tx.execute(stmt)
    ]


async def delete_events_before(tx: Tx, before: float, *, limit: int) -> int:
    """Delete up to ``limit`` events older than ``before`` (all environments); how many went."""
    old = select(audit_events.c.id).where(audit_events.c.at < before).limit(limit)
    stmt = delete(audit_events).where(audit_events.c.id.in_(old.scalar_subquery()))
    return int((await tx.execute(stmt)).rowcount)
