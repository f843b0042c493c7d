"""Per-IP limit on wrong codes (spec 3.6, 3b.4): an end user's address, counted across the users
of its environment, refused without evaluating."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.services.support import Phone, enrolled_user, new_environment
from twostep.clock import FrozenClock
from twostep.errors import CodeReused, InvalidCode, LockedOut, RecoveryCodeInvalid
from twostep.services import enrollment, recovery
from twostep.services.runtime import Actor, Runtime
from twostep.services.verification import verify_code
from twostep.storage.repositories.organizations import EnvironmentRecord

LIMIT = 3
ATTACKER = Actor.end_user("test", "203.0.113.7")
NEIGHBOUR = Actor.end_user("test", "203.0.113.8")


@pytest.fixture
def limited(runtime: Runtime) -> Runtime:
    """The ``runtime`` fixture's services with ``ip_failure_limit`` set to 3."""
    settings = runtime.settings.model_copy(update={"ip_failure_limit": LIMIT})
    assert settings.ip_failure_limit == LIMIT
    return Runtime(
        settings=settings,
        db=runtime.db,
        keyring=runtime.keyring,
        box=runtime.box,
        clock=runtime.clock,
        passwords=runtime.passwords,
        http=runtime.http,
    )


async def users(rt: Runtime, clock: FrozenClock, n: int) -> tuple[EnvironmentRecord, list[Phone]]:
    env = await new_environment(rt)
    return env, [await enrolled_user(rt, clock, env, f"u{i}@acme.test") for i in range(n)]


async def verify(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, phone: Phone, code: str
) -> None:
    await verify_code(rt, actor, env, phone.user_id, code)


async def test_wrong_codes_across_users_block_the_address(
    limited: Runtime, clock: FrozenClock
) -> None:
    env, phones = await users(limited, clock, LIMIT + 1)
    for phone in phones[:LIMIT]:
        with pytest.raises(InvalidCode):
            await verify(limited, ATTACKER, env, phone, phone.wrong_code(clock))

    victim = phones[LIMIT]
    right = victim.code(clock, +1)
    with pytest.raises(LockedOut) as refused:
        await verify(limited, ATTACKER, env, victim, right)
    # T0 is 20 s into its minute: the address may try again when the minute ends.
    assert refused.value.retry_after == 40
    # Refused without evaluating: the right code was not spent, nor a wrong one counted.
    with pytest.raises(LockedOut):
        await verify(limited, ATTACKER, env, victim, victim.wrong_code(clock))
    await verify(limited, NEIGHBOUR, env, victim, right)
    with pytest.raises(CodeReused):
        await verify(limited, NEIGHBOUR, env, victim, right)
    # The victim's own counter saw no failure: four more (from elsewhere) do not lock it.
    for i in range(4):
        with pytest.raises(InvalidCode):
            await verify(
                limited,
                Actor.end_user("test", f"198.51.100.{i}"),
                env,
                victim,
                victim.wrong_code(clock),
            )
    clock.advance(victim.params.period)
    await verify(limited, NEIGHBOUR, env, victim, victim.code(clock, +1))

    # The next minute the address may try again.
    clock.advance(60 - victim.params.period)
    await verify(limited, ATTACKER, env, phones[0], phones[0].code(clock))


async def test_blocked_address_cannot_confirm_or_use_recovery_codes(
    limited: Runtime, clock: FrozenClock
) -> None:
    env, phones = await users(limited, clock, 1)
    phone = phones[0]
    for _ in range(LIMIT):
        with pytest.raises(RecoveryCodeInvalid):
            await recovery.use_recovery_code(limited, ATTACKER, env, phone.user_id, "x" * 16)
    with pytest.raises(LockedOut):
        await recovery.use_recovery_code(
            limited, ATTACKER, env, phone.user_id, phone.recovery_codes[0]
        )
    with pytest.raises(LockedOut):
        await verify(limited, ATTACKER, env, phone, phone.code(clock, +1))

    other = await enrolled_user(limited, clock, env, "late@acme.test")
    await enrollment.reset(limited, NEIGHBOUR, env, other.user_id)
    await enrollment.register(limited, NEIGHBOUR, env, other.user_id)
    with pytest.raises(LockedOut):
        await enrollment.confirm(limited, ATTACKER, env, other.user_id, "123456")

    # Nothing was spent by the refused attempts.
    assert (
        await recovery.use_recovery_code(
            limited, NEIGHBOUR, env, phone.user_id, phone.recovery_codes[0]
        )
        == 4
    )


async def test_right_codes_and_replays_do_not_count(limited: Runtime, clock: FrozenClock) -> None:
    env, phones = await users(limited, clock, LIMIT + 1)
    for phone in phones:
        await verify(limited, ATTACKER, env, phone, phone.code(clock, +1))
    for phone in phones:  # replays are refused, but they are not guesses
        with pytest.raises(CodeReused):
            await verify(limited, ATTACKER, env, phone, phone.code(clock, +1))
    for _ in range(LIMIT):
        with pytest.raises(InvalidCode):
            await verify(limited, ATTACKER, env, phones[0], phones[0].wrong_code(clock))
    with pytest.raises(LockedOut):
        await verify(limited, ATTACKER, env, phones[1], phones[1].wrong_code(clock))


async def test_concurrent_guesses_from_one_address_respect_the_limit(
    limited: Runtime, clock: FrozenClock
) -> None:
    env, phones = await users(limited, clock, 20)

    async def guess(phone: Phone) -> str:
        try:
            await verify(limited, ATTACKER, env, phone, phone.wrong_code(clock))
        except (InvalidCode, LockedOut) as refused:
            return refused.code
        return "accepted"

    outcomes = Counter(await asyncio.gather(*(guess(p) for p in phones)))
    # At most LIMIT guesses from one address are evaluated in a minute, however they arrive.
    assert outcomes == {"invalid_code": LIMIT, "locked_out": 20 - LIMIT}


async def test_counted_per_environment_and_never_for_a_backend(
    limited: Runtime, clock: FrozenClock
) -> None:
    env, phones = await users(limited, clock, LIMIT + 1)
    other_env = await new_environment(limited, "globex")
    other = await enrolled_user(limited, clock, other_env, "o@globex.test")
    backend = Actor("apikey:test", ATTACKER.ip)  # the same address, as a tenant's backend
    for phone in phones:
        with pytest.raises(InvalidCode):
            await verify(limited, backend, env, phone, phone.wrong_code(clock))
    for phone in phones[:LIMIT]:
        with pytest.raises(InvalidCode):
            await verify(limited, ATTACKER, env, phone, phone.wrong_code(clock))
    with pytest.raises(LockedOut):
        await verify(limited, ATTACKER, env, phones[LIMIT], phones[LIMIT].code(clock, +1))
    # The address has its own count in another environment, and the backend is not held up.
    await verify(limited, ATTACKER, other_env, other, other.code(clock, +1))
    await verify(limited, backend, env, phones[LIMIT], phones[LIMIT].code(clock, +1))
