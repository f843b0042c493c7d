"""Recording what happened: who, when, from where, the outcome; never a code or a secret."""

from __future__ import annotations

from typing import Any

from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories.audit import AuditEvent, list_events, record_event
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = ["audit", "list_audit"]


async def audit(
    tx: Tx,
    rt: Runtime,
    actor: Actor,
    action: str,
    outcome: str,
    *,
    environment_id: str | None,
    user_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    event = AuditEvent(
        at=rt.clock.now(),
        environment_id=environment_id,
        actor=actor.name,
        action=action,
        user_id=user_id,
        outcome=outcome,
        ip=actor.ip,
        details=details,
    )
    await record_event(tx, event)


async def list_audit(
    rt: Runtime, env: EnvironmentRecord, *, user_id: str | None, limit: int
) -> list[AuditEvent]:
    """The environment's newest audit events, optionally of one user."""
    async with rt.db.transaction() as tx:
        return await list_events(tx, env.id, user_id=user_id, limit=limit)
