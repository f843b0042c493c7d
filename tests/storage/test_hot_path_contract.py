"""One contract, two implementations: the Core reference (``repositories.authenticators``)
and the driver-level hot path (``storage.hot_path``), each on SQLite and PostgreSQL, races
included."""

from __future__ import annotations

import asyncio
import itertools
from types import ModuleType

import pytest

from tests.services.support import (
    Phone,
    add_application,
    enroll,
    enrolled_user,
    new_environment,
    new_user,
)
from twostep.clock import FrozenClock
from twostep.otp import SUSPEND_AFTER
from twostep.services.runtime import Runtime
from twostep.storage import hot_path
from twostep.storage.audit_chain import link_hash
from twostep.storage.repositories import audit as audit_core
from twostep.storage.repositories import authenticators as core
from twostep.storage.repositories.audit import AuditEvent, AuditFilter
from twostep.storage.repositories.authenticators import AuthenticatorRecord

IMPLEMENTATIONS = [pytest.param(core, id="core"), pytest.param(hot_path, id="hot_path")]
# The default schedule: 30 s from the 5th failure in a row, doubling.
DELAYS = ((5, 30), (6, 60), (7, 120))


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    module: ModuleType = request.param
    return module


async def _row(rt: Runtime, authenticator_id: str) -> AuthenticatorRecord:
    async with rt.db.transaction() as tx:
        found = await core.get_authenticator_by_id(tx, authenticator_id)
    assert found is not None
    return found


async def _decide(
    rt: Runtime, impl: ModuleType, authenticator_id: str, step: int | None, now: float
) -> int | None:
    """One check in its own unit of work, as a request makes it."""
    async with rt.db.transaction() as tx:
        result: int | None = await impl.decide(
            tx,
            authenticator_id,
            step=step,
            now=now,
            delays=DELAYS,
            max_delay=3600,
            suspend_after=SUSPEND_AFTER,
        )
    return result


async def _enrolled(rt: Runtime, clock: FrozenClock) -> tuple[Phone, AuthenticatorRecord]:
    env = await new_environment(rt)
    phone = await enrolled_user(rt, clock, env)
    async with rt.db.transaction() as tx:
        context = await core.load_verify_context(tx, env.id, phone.user_id, None)
    assert context is not None
    assert context.authenticator is not None
    return phone, context.authenticator


async def test_both_read_the_same_context(
    runtime: Runtime, clock: FrozenClock, impl: ModuleType
) -> None:
    """Every variant of the one query (own application, by client_id, the sign-in rule, an
    unknown user, a user without an authenticator) reads what the reference reads."""
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    await enroll(
        runtime, clock, env, phone.user_id, client_id=await add_application(runtime, env, "crm")
    )
    bare = await new_user(runtime, env, "bob@acme.test")
    cases = [
        (phone.user_id, None, False),
        (phone.user_id, "crm", False),
        (phone.user_id, "crm", True),
        (phone.user_id, None, True),
        (bare, None, True),
        ("no-such-user", None, False),
    ]
    async with runtime.db.transaction() as tx:
        for user_id, client_id, sign_in in cases:
            expected = await core.load_verify_context(
                tx, env.id, user_id, client_id, sign_in=sign_in
            )
            found = await impl.load_verify_context(tx, env.id, user_id, client_id, sign_in=sign_in)
            assert found == expected, (user_id, client_id, sign_in)
    assert expected is None  # the unknown user
    async with runtime.db.transaction() as tx:
        crm = await impl.load_verify_context(tx, env.id, phone.user_id, "crm")
    assert crm is not None
    assert crm.authenticator is not None
    assert (crm.authenticator.status, crm.authenticator.last_step) == ("active", phone.step(clock))


async def test_a_step_is_claimed_once_and_only_upwards(
    runtime: Runtime, clock: FrozenClock, impl: ModuleType
) -> None:
    phone, authenticator = await _enrolled(runtime, clock)
    step = phone.step(clock) + 1
    assert await _decide(runtime, impl, authenticator.id, step, clock.now()) == 0
    assert await _decide(runtime, impl, authenticator.id, step, clock.now()) is None
    assert await _decide(runtime, impl, authenticator.id, step - 1, clock.now()) is None
    assert (await _row(runtime, authenticator.id)).last_step == step


async def test_racing_claims_of_one_step_accept_exactly_one(
    runtime: Runtime, clock: FrozenClock, impl: ModuleType
) -> None:
    phone, authenticator = await _enrolled(runtime, clock)
    step = phone.step(clock) + 1
    results = await asyncio.gather(
        *[_decide(runtime, impl, authenticator.id, step, clock.now()) for _ in range(12)]
    )
    assert results.count(0) == 1
    assert results.count(None) == 11


async def test_racing_wrong_codes_are_each_counted(
    runtime: Runtime, clock: FrozenClock, impl: ModuleType
) -> None:
    """Below the lock, N concurrent failures leave N failures; one of them, and only one, is
    the one that locks (the lockout is announced once)."""
    _, authenticator = await _enrolled(runtime, clock)
    results = await asyncio.gather(
        *[_decide(runtime, impl, authenticator.id, None, clock.now()) for _ in range(4)]
    )
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4]
    assert (await _row(runtime, authenticator.id)).failures == 4
    results = await asyncio.gather(
        *[_decide(runtime, impl, authenticator.id, None, clock.now()) for _ in range(6)]
    )
    assert results.count(5) == 1  # the 5th failure locks: counted once, then refused
    assert results.count(None) == 5
    row = await _row(runtime, authenticator.id)
    assert (row.failures, row.locked_until) == (5, clock.now() + 30)


async def test_while_locked_nothing_is_evaluated_or_changed(
    runtime: Runtime, clock: FrozenClock, impl: ModuleType
) -> None:
    phone, authenticator = await _enrolled(runtime, clock)
    for _ in range(5):
        await _decide(runtime, impl, authenticator.id, None, clock.now())
    locked = await _row(runtime, authenticator.id)
    clock.advance(29)
    assert (
        await _decide(runtime, impl, authenticator.id, phone.step(clock) + 1, clock.now()) is None
    )
    assert await _decide(runtime, impl, authenticator.id, None, clock.now()) is None
    assert await _row(runtime, authenticator.id) == locked
    clock.advance(1)  # the lock has run out: the next wrong code locks for 60 s
    assert await _decide(runtime, impl, authenticator.id, None, clock.now()) == 6
    assert (await _row(runtime, authenticator.id)).locked_until == clock.now() + 60
    clock.advance(60)
    assert await _decide(runtime, impl, authenticator.id, phone.step(clock), clock.now()) == 0
    row = await _row(runtime, authenticator.id)
    assert (row.failures, row.last_step) == (0, phone.step(clock))


async def test_a_suspended_authenticator_refuses_even_the_right_code(
    runtime: Runtime, clock: FrozenClock, impl: ModuleType
) -> None:
    phone, authenticator = await _enrolled(runtime, clock)
    async with runtime.db.transaction() as tx:
        await tx.execute(
            core.authenticators.update()
            .where(core.authenticators.c.id == authenticator.id)
            .values(failures=SUSPEND_AFTER)
        )
    assert (
        await _decide(runtime, impl, authenticator.id, phone.step(clock) + 1, clock.now()) is None
    )
    assert (await _row(runtime, authenticator.id)).failures == SUSPEND_AFTER


async def test_the_check_commits_and_rolls_back_with_its_unit_of_work(
    runtime: Runtime, clock: FrozenClock, impl: ModuleType
) -> None:
    """The driver-level statements run in the unit of work's own transaction."""
    phone, authenticator = await _enrolled(runtime, clock)

    async def claim_then_fail() -> None:
        async with runtime.db.transaction() as tx:
            await impl.decide(
                tx,
                authenticator.id,
                step=phone.step(clock) + 1,
                now=clock.now(),
                delays=DELAYS,
                max_delay=3600,
                suspend_after=SUSPEND_AFTER,
            )
            raise RuntimeError("the request failed after the claim")

    with pytest.raises(RuntimeError):
        await claim_then_fail()
    assert await _row(runtime, authenticator.id) == authenticator


AUDIT_IMPLEMENTATIONS = [(audit_core, "core"), (hot_path, "hot_path")]


async def test_both_append_the_same_audit_rows_to_one_chain(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """Events appended by either implementation, alternately, are stored alike (details as
    JSON, absent details as JSON null) and form one unbroken chain; an append rolls back with
    its unit of work and gives its place back."""
    env = await new_environment(runtime)
    details: list[dict[str, object] | None] = [None, {"reason": "lost phone", "n": 2}]
    for i in range(4):
        module, name = AUDIT_IMPLEMENTATIONS[i % 2]
        event = AuditEvent(
            clock.now() + i, env.id, name, "test.append", None, "ok", None, details[i // 2]
        )
        async with runtime.db.transaction() as tx:
            await module.record_event(tx, event)

    async def append_then_fail() -> None:
        async with runtime.db.transaction() as tx:
            await hot_path.record_event(
                tx, AuditEvent(clock.now(), env.id, "x", "test.lost", None, "ok", None)
            )
            raise RuntimeError("the request failed after the append")

    with pytest.raises(RuntimeError):
        await append_then_fail()
    async with runtime.db.transaction() as tx:
        stored = await audit_core.list_events(tx, env.id, AuditFilter(), limit=10)
    appended = sorted((e for e in stored if e.action == "test.append"), key=lambda e: e.seq)
    assert [(e.actor, e.details) for e in appended] == [
        ("core", None),
        ("hot_path", None),
        ("core", details[1]),
        ("hot_path", details[1]),
    ]
    assert not any(e.action == "test.lost" for e in stored)
    chain = sorted(stored, key=lambda e: e.seq)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))  # the lost place came back
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash
        assert after.hash == link_hash(before.hash, audit_core.content_of(after))
