"""The outbox: events, and one delivery per event and endpoint, claimed with a lease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row, delete, insert, or_, select, update

from twostep.storage.db import Tx
from twostep.storage.repositories.webhook_endpoints import EndpointRecord, endpoint_of
from twostep.storage.tables import event_deliveries, events, new_id, webhook_endpoints

__all__ = [
    "DeliveryRecord",
    "DeliveryStatus",
    "EventRecord",
    "claim_delivery",
    "delete_events_before",
    "due_deliveries",
    "insert_event",
    "list_deliveries",
    "load_delivery",
    "record_attempt",
]

# "pending" until a 2xx answer or the end of the retry window.
DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: str
    environment_id: str
    type: str
    data: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    last_attempt_at: float | None
    created_at: float


async def insert_event(tx: Tx, event: EventRecord, endpoints: list[EndpointRecord]) -> int:
    """Store the event and a pending delivery for each endpoint; how many deliveries."""
    await tx.execute(
        insert(events).values(
            id=event.id,
            environment_id=event.environment_id,
            type=event.type,
            data=event.data,
            created_at=event.created_at,
        )
    )
    rows = [
        {
            "id": new_id(),
            "event_id": event.id,
            "endpoint_id": endpoint.id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": event.created_at,
            "created_at": event.created_at,
        }
        for endpoint in endpoints
    ]
    if rows:
        await tx.execute(insert(event_deliveries), rows)
    return len(rows)


def _claimable(now: float) -> list[Any]:
    c = event_deliveries.c
    return [
        c.status == "pending",
        c.next_attempt_at <= now,
        or_(c.busy_until.is_(None), c.busy_until <= now),
    ]


async def due_deliveries(tx: Tx, *, now: float, limit: int) -> list[str]:
    """Ids of deliveries due now and held by no worker, oldest first (not claimed yet)."""
    c = event_deliveries.c
    stmt = select(c.id).where(*_claimable(now)).order_by(c.next_attempt_at).limit(limit)
    return [row.id for row in (await tx.execute(stmt)).all()]


async def claim_delivery(tx: Tx, delivery_id: str, *, now: float, lease_s: float) -> bool:
    """Take the delivery to post it; of several racing claims exactly one gets True."""
    stmt = (
        update(event_deliveries)
        .where(event_deliveries.c.id == delivery_id, *_claimable(now))
        .values(busy_until=now + lease_s)
    )
    return (await tx.execute(stmt)).rowcount == 1


def _delivery(row: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        event_id=row.event_id,
        event_type=row.type,
        endpoint_id=row.endpoint_id,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        last_attempt_at=row.last_attempt_at,
        created_at=row.created_at,
    )


_DELIVERY_COLUMNS = [*event_deliveries.c, events.c.type]


async def load_delivery(
    tx: Tx, delivery_id: str
) -> tuple[DeliveryRecord, EventRecord, EndpointRecord] | None:
    stmt = (
        select(*_DELIVERY_COLUMNS, events.c.data, events.c.environment_id)
        .join(events, events.c.id == event_deliveries.c.event_id)
        .where(event_deliveries.c.id == delivery_id)
    )
    row = (await tx.execute(stmt)).first()
    if row is None:
        return None
    delivery = _delivery(row)
    event = EventRecord(row.event_id, row.environment_id, row.type, dict(row.data), row.created_at)
    endpoint_stmt = select(webhook_endpoints).where(webhook_endpoints.c.id == row.endpoint_id)
    endpoint_row = (await tx.execute(endpoint_stmt)).first()
    if endpoint_row is None:
        return None
    return delivery, event, endpoint_of(endpoint_row)


async def record_attempt(tx: Tx, delivery_id: str, values: dict[str, Any]) -> None:
    """Write how an attempt went and release the claim."""
    await tx.execute(
        update(event_deliveries)
        .where(event_deliveries.c.id == delivery_id)
        .values(**values, busy_until=None)
    )


async def list_deliveries(
    tx: Tx, endpoint_id: str, *, limit: int, status: DeliveryStatus | None = None
) -> list[DeliveryRecord]:
    """The endpoint's deliveries, newest first."""
    c = event_deliveries.c
    stmt = (
        select(*_DELIVERY_COLUMNS)
        .join(events, events.c.id == c.event_id)
        .where(c.endpoint_id == endpoint_id)
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(c.status == status)
    return [_delivery(row) for row in (await tx.execute(stmt)).all()]


async def delete_events_before(tx: Tx, before: float) -> int:
    """Forget events (and their deliveries) older than ``before`` that nothing still waits on."""
    waiting = select(event_deliveries.c.event_id).where(event_deliveries.c.status == "pending")
    result = await tx.execute(
        delete(events).where(events.c.created_at < before, events.c.id.not_in(waiting))
    )
    return int(result.rowcount)
