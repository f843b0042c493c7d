"""Journey definitions, newest version first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from twostep.errors import Conflict
from twostep.storage.db import Tx
from twostep.storage.tables import journey_definitions, new_id

__all__ = ["StoredJourney", "add_version", "latest_version"]


@dataclass(frozen=True, slots=True)
class StoredJourney:
    name: str
    version: int
    definition: dict[str, Any]
    created_at: float


async def latest_version(tx: Tx, environment_id: str, name: str) -> StoredJourney | None:
    stmt = (
        select(journey_definitions)
        .where(
            journey_definitions.c.environment_id == environment_id,
            journey_definitions.c.name == name,
        )
        .order_by(journey_definitions.c.version.desc())
        .limit(1)
    )
    row = (await tx.execute(stmt)).first()
    if row is None:
        return None
    return StoredJourney(row.name, row.version, dict(row.definition), row.created_at)


async def add_version(
    tx: Tx, environment_id: str, name: str, definition: dict[str, Any], now: float
) -> StoredJourney:
    """Store the next version; two racing PUTs cannot both take the same number."""
    newest = select(func.coalesce(func.max(journey_definitions.c.version), 0)).where(
        journey_definitions.c.environment_id == environment_id,
        journey_definitions.c.name == name,
    )
    version = int((await tx.execute(newest)).scalar_one()) + 1
    try:
        async with tx.begin_nested():
            await tx.execute(
                insert(journey_definitions).values(
                    id=new_id(),
                    environment_id=environment_id,
                    name=name,
                    version=version,
                    definition=definition,
                    created_at=now,
                )
            )
    except IntegrityError as exc:
        raise Conflict("The journey was changed at the same time; try again.") from exc
    return StoredJourney(name, version, definition, now)
