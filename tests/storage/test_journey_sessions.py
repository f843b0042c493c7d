"""Journey sessions are rows: they outlive a restart, expire, and advance once per answer."""

from __future__ import annotations

import asyncio
import secrets

from twostep.clock import FrozenClock
from twostep.services.organizations import create_organization, environment_for
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.journeys import (
    JourneySession,
    claim_session,
    delete_expired_sessions,
    get_session,
    insert_session,
    store_session,
)
from twostep.storage.repositories.organizations import Principal

TTL = 600.0
LEASE = 60.0


async def new_session(runtime: Runtime, clock: FrozenClock) -> JourneySession:
    domain = f"j-{secrets.token_hex(4)}"
    await create_organization(runtime, Actor("test"), name="J", domain=domain, email_domains=[])
    env = await environment_for(runtime, Principal("test", None), domain, "production")
    session = JourneySession(
        id=secrets.token_urlsafe(32),
        environment_id=env.id,
        journey="login",
        version=0,
        status="active",
        state={"step": "password", "vars": {"attempts": 0}},
        seq=0,
        csrf=secrets.token_urlsafe(16),
        created_at=clock.now(),
        expires_at=clock.now() + TTL,
    )
    async with runtime.db.transaction() as tx:
        await insert_session(tx, session)
    return session


async def claim(
    runtime: Runtime, session: JourneySession, read_seq: int, *, now: float | None = None
) -> bool:
    async with runtime.db.transaction() as tx:
        return await claim_session(
            tx,
            session.id,
            read_seq=read_seq,
            now=session.created_at if now is None else now,
            lease_s=LEASE,
        )


async def store(
    runtime: Runtime, session: JourneySession, claimed_seq: int, status: str = "active"
) -> bool:
    async with runtime.db.transaction() as tx:
        return await store_session(
            tx, session.id, claimed_seq=claimed_seq, state={"step": "next"}, status=status
        )


async def test_a_session_reads_back_as_written(runtime: Runtime, clock: FrozenClock) -> None:
    session = await new_session(runtime, clock)
    async with runtime.db.transaction() as tx:
        assert await get_session(tx, session.id) == session
        assert await get_session(tx, "no-such-session") is None


async def test_racing_answers_claim_a_session_once(runtime: Runtime, clock: FrozenClock) -> None:
    session = await new_session(runtime, clock)
    results = await asyncio.gather(*(claim(runtime, session, 0) for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    # Held: not even an answer that read the claimed sequence may take it.
    assert not await claim(runtime, session, 1)
    assert await store(runtime, session, 1)
    async with runtime.db.transaction() as tx:
        stored = await get_session(tx, session.id)
    assert stored is not None
    assert (stored.seq, stored.state, stored.busy_until) == (2, {"step": "next"}, None)
    # An answer to the state it read before is refused: it is stale.
    assert not await claim(runtime, session, 0)
    assert not await store(runtime, session, 1)
    assert await claim(runtime, session, 2)


async def test_a_lease_ends_when_its_holder_died(runtime: Runtime, clock: FrozenClock) -> None:
    session = await new_session(runtime, clock)
    assert await claim(runtime, session, 0)
    assert not await claim(runtime, session, 1, now=session.created_at + LEASE - 1)
    assert await claim(runtime, session, 1, now=session.created_at + LEASE)
    # The dead holder's late write is refused: the session moved on without it.
    assert not await store(runtime, session, 1)


async def test_expired_and_finished_sessions_are_not_claimed(
    runtime: Runtime, clock: FrozenClock
) -> None:
    expired = await new_session(runtime, clock)
    assert not await claim(runtime, expired, 0, now=expired.expires_at)
    finished = await new_session(runtime, clock)
    assert await claim(runtime, finished, 0)
    assert await store(runtime, finished, 1, status="completed")
    assert not await claim(runtime, finished, 2, now=finished.created_at + LEASE)

    async with runtime.db.transaction() as tx:
        assert await delete_expired_sessions(tx, clock.now() + TTL) == 2
        assert await get_session(tx, expired.id) is None
