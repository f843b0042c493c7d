"""Lockout after wrong codes (spec 3.6): exponential back-off, suspension at 100, and its scope."""

from __future__ import annotations

import pytest

from tests.services.support import (
    ACTOR,
    PASSWORD,
    Phone,
    add_application,
    enroll,
    enrolled_user,
    new_environment,
)
from twostep.clock import FrozenClock
from twostep.errors import InvalidCode, LockedOut, TotpNotEnrolled
from twostep.services import enrollment, recovery
from twostep.services.accounts import get_user
from twostep.services.runtime import Runtime
from twostep.services.verification import Outcome, check_code, decide, load_context, verify_code
from twostep.storage import Tx
from twostep.storage.repositories.organizations import EnvironmentRecord


async def verify(rt: Runtime, env: EnvironmentRecord, phone: Phone, code: str) -> None:
    await verify_code(rt, ACTOR, env, phone.user_id, code, client_id=phone.client_id)


async def fail(rt: Runtime, clock: FrozenClock, env: EnvironmentRecord, phone: Phone) -> None:
    """One wrong code, which must be evaluated (and refused as invalid), not locked out."""
    with pytest.raises(InvalidCode):
        await verify(rt, env, phone, phone.wrong_code(clock))


async def locked_for(rt: Runtime, clock: FrozenClock, env: EnvironmentRecord, phone: Phone) -> int:
    """Seconds of lock left, as the correct code's refusal reports them."""
    with pytest.raises(LockedOut) as refused:
        await verify(rt, env, phone, phone.code(clock, +1))
    assert refused.value.retry_after is not None
    return refused.value.retry_after


async def test_back_off_doubles_from_30_s_up_to_an_hour(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    for _ in range(5):  # the 5th (max_failures) is still evaluated, and locks for 30 s
        await fail(runtime, clock, env, phone)

    seen = []
    for _ in range(9):
        delay = await locked_for(runtime, clock, env, phone)
        seen.append(delay)
        clock.advance(delay - 1)
        # Still locked one second before the end, and a wrong code now is not even counted.
        assert await locked_for(runtime, clock, env, phone) == 1
        with pytest.raises(LockedOut):
            await verify(runtime, env, phone, phone.wrong_code(clock))
        clock.advance(1)
        await fail(runtime, clock, env, phone)
    assert seen == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


async def test_four_wrong_codes_do_not_lock(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    for _ in range(4):
        await fail(runtime, clock, env, phone)
    await verify(runtime, env, phone, phone.code(clock, +1))


async def test_locked_attempt_is_not_evaluated_and_right_code_later_resets(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    for _ in range(5):
        await fail(runtime, clock, env, phone)
    right = phone.code(clock, +1)
    with pytest.raises(LockedOut) as refused:
        await verify(runtime, env, phone, right)
    assert refused.value.retry_after == 30
    clock.advance(10)
    assert await locked_for(runtime, clock, env, phone) == 20

    clock.advance(20)
    # The code refused during the lock was not spent: it is accepted now (a past token).
    await verify(runtime, env, phone, right)
    # ...and the counter starts again from zero: four wrong codes lock nothing, the fifth 30 s.
    for _ in range(5):
        await fail(runtime, clock, env, phone)
    assert await locked_for(runtime, clock, env, phone) == 30


async def suspend(rt: Runtime, clock: FrozenClock, env: EnvironmentRecord, phone: Phone) -> None:
    """100 consecutive wrong codes, waiting out every lock in between."""
    for failures in range(1, 101):
        if failures < 100:
            await fail(rt, clock, env, phone)
        else:
            with pytest.raises(LockedOut):  # the 100th is counted, and suspends
                await verify(rt, env, phone, phone.wrong_code(clock))
        if failures >= 5:
            clock.advance(3600)


@pytest.mark.parametrize("unlock", ["recovery_code", "admin_reset"])
async def test_hundred_failures_suspend_until_recovery_or_reset(
    runtime: Runtime, clock: FrozenClock, unlock: str
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    await suspend(runtime, clock, env, phone)

    # Suspended: no amount of waiting lifts it, and the right code is refused unevaluated.
    clock.advance(7 * 24 * 3600)
    with pytest.raises(LockedOut) as refused:
        await verify(runtime, env, phone, phone.code(clock))
    assert refused.value.retry_after == 3600

    if unlock == "recovery_code":
        left = await recovery.use_recovery_code(
            runtime, ACTOR, env, phone.user_id, phone.recovery_codes[0]
        )
        assert left == 4
        await verify(runtime, env, phone, phone.code(clock))
        # Unlocked means a clean slate: four wrong codes do not lock.
        for _ in range(4):
            await fail(runtime, clock, env, phone)
        await verify(runtime, env, phone, phone.code(clock, +1))
    else:
        await enrollment.reset(runtime, ACTOR, env, phone.user_id)
        with pytest.raises(TotpNotEnrolled):
            await verify(runtime, env, phone, phone.code(clock))
        again = await enroll(runtime, clock, env, phone.user_id)
        await verify(runtime, env, again, again.code(clock, +1))


async def test_lockout_spares_other_applications_and_the_password(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    other = await enroll(
        runtime, clock, env, phone.user_id, client_id=await add_application(runtime, env, "crm")
    )
    await suspend(runtime, clock, env, phone)
    with pytest.raises(LockedOut):
        await verify(runtime, env, phone, phone.code(clock))

    # The same user's authenticator for another application is untouched...
    await verify(runtime, env, other, other.code(clock))
    # ...and so are the account and its password.
    view = await get_user(runtime, env, phone.user_id)
    assert view.user.status == "active"
    assert view.user.password_hash is not None
    assert await runtime.passwords.verify_async(view.user.password_hash, PASSWORD)
    other_view = await get_user(runtime, env, phone.user_id, "crm")
    assert other_view.two_factor.enabled


@pytest.mark.parametrize("attempt", ["wrong", "right"])
async def test_attempt_overtaken_by_the_locking_failure_reports_the_lock(
    runtime: Runtime, clock: FrozenClock, attempt: str
) -> None:
    """Two requests interleaved by hand: one reads the authenticator, the other locks it."""
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    for _ in range(4):
        await fail(runtime, clock, env, phone)
    async with runtime.db.transaction() as tx:
        context, config = await load_context(tx, runtime, env, phone.user_id, None)
    authenticator = context.authenticator
    assert authenticator is not None
    assert authenticator.failures == 4
    await fail(runtime, clock, env, phone)  # the other request: the 5th failure, 30 s lock

    async def claim(tx: Tx, step: int) -> bool:
        return await decide(tx, authenticator.id, step, config, clock.now()) == 0

    code = phone.wrong_code(clock) if attempt == "wrong" else phone.code(clock, +1)
    async with runtime.db.transaction() as tx:
        verdict = await check_code(tx, runtime, authenticator, config, code, claim)
    assert (verdict.outcome, verdict.retry_after) == (Outcome.LOCKED, 30)
