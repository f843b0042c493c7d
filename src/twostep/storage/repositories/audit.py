"""The audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from twostep.storage.db import Tx
from twostep.storage.tables import audit_events

__all__ = ["AuditEvent", "list_events", "record_event"]


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
