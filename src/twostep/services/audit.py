"""Recording what happened: who, when, from where, the outcome; never a code or a secret."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from twostep.errors import ValidationFailed
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.hot_path import record_event
from twostep.storage.repositories.audit import AuditEvent, AuditFilter, list_events
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = [
    "AuditPage",
    "audit",
    "continuing",
    "export_audit",
    "list_audit",
    "page_audit",
]

_BAD_CURSOR = "The cursor is not valid: pass back the next_cursor of an earlier page."


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
        return await list_events(tx, env.id, AuditFilter(user_id=user_id), limit=limit)


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    # Where the next (older) page starts; None on the last page.
    next_cursor: str | None


def _cursor(event: AuditEvent) -> str:
    raw = json.dumps([event.at, event.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(cursor: str) -> tuple[float, int]:
    """The (time, id) a cursor of ``_cursor`` names; opaque to clients, so anything else is a
    client error, never a 500."""
    try:
        at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(at, int | float) and isinstance(row_id, int) and not isinstance(at, bool):
            return float(at), row_id
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ValidationFailed(
        _BAD_CURSOR,
        errors=[{"loc": ["query", "cursor"], "msg": _BAD_CURSOR, "type": "value_error"}],
    )


def continuing(where: AuditFilter, cursor: str | None) -> AuditFilter:
    """``where``, narrowed to the events after the page that ``cursor`` ended."""
    return replace(where, before=_position(cursor)) if cursor else where


async def page_audit(
    rt: Runtime, env: EnvironmentRecord, where: AuditFilter, *, limit: int, cursor: str | None
) -> AuditPage:
    """One page of the trail, newest first; its ``next_cursor`` continues where it ended, the
    same position whatever was recorded meanwhile (newer events never shift older pages)."""
    where = continuing(where, cursor)
    async with rt.db.transaction() as tx:
        events = await list_events(tx, env.id, where, limit=limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return AuditPage(events, _cursor(events[-1]) if more else None)


async def export_audit(
    rt: Runtime, env: EnvironmentRecord, where: AuditFilter, *, batch: int = 500
) -> AsyncIterator[AuditEvent]:
    """Every matching event, newest first, read a batch per transaction (never one long one)."""
    while True:
        async with rt.db.transaction() as tx:
            events = await list_events(tx, env.id, where, limit=batch)
        for event in events:
            yield event
        if len(events) < batch:
            return
        where = replace(where, before=(events[-1].at, events[-1].id))
