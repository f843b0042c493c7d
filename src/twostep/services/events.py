"""Events (issue 12): what happened to a user's second factor, written to the outbox in the
transaction that made it happen, and delivered to the environment's webhook endpoints.

``emit`` is the one way to raise an event: call it inside the ``rt.db.transaction()`` that
makes the change, so that the event exists if and only if the change committed. It stores
the event once and a pending delivery for each enabled endpoint that subscribes to its type;
``event_delivery`` posts them later (at least once, each signed per Standard Webhooks, the
event id as ``webhook-id``). ``data`` must be JSON and never carry a code or a secret.
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal, get_args

from twostep.services.runtime import Runtime
from twostep.storage import Tx
from twostep.storage.repositories import events as repo
from twostep.storage.repositories.webhook_endpoints import list_endpoints

__all__ = ["EVENT_TYPES", "EventType", "emit", "new_event_id"]

EventType = Literal[
    "totp.enrolled",
    "totp.disabled",
    "totp.reset",
    "totp.locked",
    "totp.suspended",
    "recovery_code.used",
    "recovery_codes.regenerated",
    "lock.paired",
    "lock.closed",
    "lock.opened",
    "device.remembered",
    "device.revoked",
    "api_key.revoked",
    "login.succeeded",
    "login.failed",
]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)


def new_event_id() -> str:
    """``msg_`` and 32 hex digits: the event's id, and every delivery's ``webhook-id``."""
    return f"msg_{uuid.uuid4().hex}"


async def emit(
    tx: Tx, rt: Runtime, environment_id: str, type: EventType, data: dict[str, Any]
) -> str:
    """Write the event (and its deliveries) in ``tx``; its id."""
    if type not in EVENT_TYPES:
        raise ValueError(f"not an event type: {type}")
    endpoints = await list_endpoints(tx, environment_id, enabled_only=True)
    event = repo.EventRecord(
        id=new_event_id(),
        environment_id=environment_id,
        type=type,
        data=data,
        created_at=rt.clock.now(),
    )
    await repo.insert_event(tx, event, [e for e in endpoints if e.receives(type)])
    return event.id
