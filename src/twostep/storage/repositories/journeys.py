"""Journey definitions, newest version first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from twostep.errors import Conflict
from twostep.storage.db import Tx
from twostep.storage.tables import journey_definitions, journey_sessions, new_id

__all__ = [
    "JourneySession",
    "JourneyStatus",
    "StoredJourney",
    "add_version",
    "claim_session",
    "count_live_sealed_under",
    "delete_expired_sessions",
    "get_session",
    "get_version",
    "insert_session",
    "latest_version",
    "release_session",
    "store_session",
]

# Active while a step waits for input; then completed (a success) or rejected, for good.
JourneyStatus = Literal["active", "completed", "rejected"]


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


async def get_version(tx: Tx, environment_id: str, name: str, version: int) -> StoredJourney | None:
    stmt = select(journey_definitions).where(
        journey_definitions.c.environment_id == environment_id,
        journey_definitions.c.name == name,
        journey_definitions.c.version == version,
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


@dataclass(frozen=True, slots=True)
class JourneySession:
    id: str
    environment_id: str
    journey: str
    version: int
    status: JourneyStatus
    state: dict[str, Any]
    seq: int
    csrf: str
    created_at: float
    expires_at: float
    busy_until: float | None = None


async def insert_session(tx: Tx, session: JourneySession) -> None:
    await tx.execute(
        insert(journey_sessions).values(
            id=session.id,
            environment_id=session.environment_id,
            journey=session.journey,
            version=session.version,
            status=session.status,
            state=session.state,
            seq=session.seq,
            csrf=session.csrf,
            created_at=session.created_at,
            expires_at=session.expires_at,
        )
    )


async def get_session(tx: Tx, session_id: str) -> JourneySession | None:
    row = (
        await tx.execute(select(journey_sessions).where(journey_sessions.c.id == session_id))
    ).first()
    if row is None:
        return None
    return JourneySession(
        id=row.id,
        environment_id=row.environment_id,
        journey=row.journey,
        version=row.version,
        status=row.status,
        state=dict(row.state),
        seq=row.seq,
        csrf=row.csrf,
        created_at=row.created_at,
        expires_at=row.expires_at,
        busy_until=row.busy_until,
    )


async def claim_session(
    tx: Tx, session_id: str, *, read_seq: int, now: float, lease_s: float
) -> bool:
    """Take the session to answer it: it must still be at ``read_seq``, live, and not held by
    another request. Of several racing claims exactly one gets True."""
    stmt = (
        update(journey_sessions)
        .where(
            journey_sessions.c.id == session_id,
            journey_sessions.c.seq == read_seq,
            journey_sessions.c.status == "active",
            journey_sessions.c.expires_at > now,
            or_(journey_sessions.c.busy_until.is_(None), journey_sessions.c.busy_until <= now),
        )
        .values(seq=read_seq + 1, busy_until=now + lease_s)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def store_session(
    tx: Tx, session_id: str, *, claimed_seq: int, state: dict[str, Any], status: JourneyStatus
) -> bool:
    """Write the state a claim produced and release the session; False if the claim was lost
    (its lease ran out and another request claimed the session)."""
    stmt = (
        update(journey_sessions)
        .where(journey_sessions.c.id == session_id, journey_sessions.c.seq == claimed_seq)
        .values(state=state, status=status, seq=claimed_seq + 1, busy_until=None)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def release_session(tx: Tx, session_id: str, *, claimed_seq: int) -> bool:
    """Give a claim up with the state as it was (its answer failed): the session can be
    answered again at once, not when the lease runs out; False if the claim was lost."""
    stmt = (
        update(journey_sessions)
        .where(journey_sessions.c.id == session_id, journey_sessions.c.seq == claimed_seq)
        .values(seq=claimed_seq + 1, busy_until=None)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def delete_expired_sessions(tx: Tx, now: float, *, limit: int = 1000) -> int:
    """Forget sessions that expired (their answers are journey_expired either way)."""
    expired = select(journey_sessions.c.id).where(journey_sessions.c.expires_at <= now).limit(limit)
    stmt = delete(journey_sessions).where(journey_sessions.c.id.in_(expired.scalar_subquery()))
    return int((await tx.execute(stmt)).rowcount)


def _sealed_under(value: Any, key_id: str) -> bool:
    """Whether a piece of journey state holds a sealed value (``{"key_id", "blob"}``, the
    journeys' ``Sealed``) under ``key_id``, however deep."""
    if isinstance(value, dict):
        if set(value) == {"key_id", "blob"} and value["key_id"] == key_id:
            return True
        return any(_sealed_under(item, key_id) for item in value.values())
    if isinstance(value, list):
        return any(_sealed_under(item, key_id) for item in value)
    return False


async def count_live_sealed_under(tx: Tx, key_id: str, now: float, *, batch: int = 500) -> int:
    """How many live (active, unexpired) journey sessions hold state sealed under ``key_id``.

    The state is JSON whose layout belongs to the journeys, so it is read and walked here
    rather than matched as text; live sessions are few (they expire within the journey TTL).
    """
    count, after = 0, ""
    while True:
        stmt = (
            select(journey_sessions.c.id, journey_sessions.c.state)
            .where(
                journey_sessions.c.status == "active",
                journey_sessions.c.expires_at > now,
                journey_sessions.c.id > after,
            )
            .order_by(journey_sessions.c.id)
            .limit(batch)
        )
        rows = (await tx.execute(stmt)).all()
        count += sum(1 for row in rows if _sealed_under(row.state, key_id))
        if len(rows) < batch:
            return count
        after = rows[-1].id
