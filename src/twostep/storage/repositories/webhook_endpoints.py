"""Webhook endpoints of an environment: where its events go, and with which sealed secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from twostep.storage.db import Tx
from twostep.storage.tables import webhook_endpoints

__all__ = [
    "EndpointRecord",
    "delete_endpoint",
    "disable_failing",
    "endpoint_of",
    "get_endpoint",
    "insert_endpoint",
    "list_endpoints",
    "note_health",
    "update_endpoint",
]


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    id: str
    environment_id: str
    url: str
    # Empty: every event type.
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    secret_key_id: str
    secret: bytes
    previous_key_id: str | None
    previous_secret: bytes | None
    previous_until: float | None
    failing_since: float | None
    created_at: float

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


def endpoint_of(row: Row[Any]) -> EndpointRecord:
    return EndpointRecord(
        id=row.id,
        environment_id=row.environment_id,
        url=row.url,
        event_types=tuple(row.event_types),
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason,
        secret_key_id=row.secret_key_id,
        secret=bytes(row.secret),
        previous_key_id=row.previous_key_id,
        previous_secret=None if row.previous_secret is None else bytes(row.previous_secret),
        previous_until=row.previous_until,
        failing_since=row.failing_since,
        created_at=row.created_at,
    )


async def insert_endpoint(tx: Tx, values: dict[str, Any]) -> EndpointRecord:
    await tx.execute(insert(webhook_endpoints).values(**values))
    found = await get_endpoint(tx, values["environment_id"], values["id"])
    assert found is not None
    return found


async def list_endpoints(
    tx: Tx, environment_id: str, *, enabled_only: bool = False
) -> list[EndpointRecord]:
    stmt = select(webhook_endpoints).where(webhook_endpoints.c.environment_id == environment_id)
    if enabled_only:
        stmt = stmt.where(webhook_endpoints.c.enabled.is_(True))
    stmt = stmt.order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
    return [endpoint_of(row) for row in (await tx.execute(stmt)).all()]


async def get_endpoint(tx: Tx, environment_id: str, endpoint_id: str) -> EndpointRecord | None:
    stmt = select(webhook_endpoints).where(
        webhook_endpoints.c.environment_id == environment_id,
        webhook_endpoints.c.id == endpoint_id,
    )
    row = (await tx.execute(stmt)).first()
    return None if row is None else endpoint_of(row)


async def update_endpoint(
    tx: Tx, environment_id: str, endpoint_id: str, values: dict[str, Any]
) -> EndpointRecord | None:
    """Change the given columns; None if the environment has no such endpoint."""
    if values:
        await tx.execute(
            update(webhook_endpoints)
            .where(
                webhook_endpoints.c.environment_id == environment_id,
                webhook_endpoints.c.id == endpoint_id,
            )
            .values(**values)
        )
    return await get_endpoint(tx, environment_id, endpoint_id)


async def delete_endpoint(tx: Tx, environment_id: str, endpoint_id: str) -> bool:
    result = await tx.execute(
        delete(webhook_endpoints).where(
            webhook_endpoints.c.environment_id == environment_id,
            webhook_endpoints.c.id == endpoint_id,
        )
    )
    return result.rowcount == 1


async def note_health(tx: Tx, endpoint_id: str, *, ok: bool, now: float) -> None:
    """A success clears ``failing_since``; a failure sets it unless it is set already."""
    c = webhook_endpoints.c
    if ok:
        stmt = update(webhook_endpoints).where(c.id == endpoint_id).values(failing_since=None)
    else:
        stmt = (
            update(webhook_endpoints)
            .where(c.id == endpoint_id, c.failing_since.is_(None))
            .values(failing_since=now)
        )
    await tx.execute(stmt)


async def disable_failing(tx: Tx, endpoint_id: str, *, failing_before: float) -> bool:
    """Switch the endpoint off if it has been failing since ``failing_before`` or earlier;
    True when this call switched it off."""
    c = webhook_endpoints.c
    stmt = (
        update(webhook_endpoints)
        .where(
            c.id == endpoint_id,
            c.enabled.is_(True),
            c.failing_since.is_not(None),
            c.failing_since <= failing_before,
        )
        .values(enabled=False, disabled_reason="failing")
    )
    return (await tx.execute(stmt)).rowcount == 1
