"""The acceptance window and replay protection (spec 3.4-3.5), on a frozen clock."""

from __future__ import annotations

import secrets

import pytest

from tests.services.support import ACTOR, Phone, enrolled_user, new_environment
from twostep.clock import FrozenClock
from twostep.errors import CodeReused, InvalidCode
from twostep.services.organizations import patch_auth_config
from twostep.services.runtime import Runtime
from twostep.services.verification import verify_code
from twostep.storage.repositories.organizations import EnvironmentRecord

# (valid_past_tokens, valid_future_tokens) or None for the defaults -> the offsets, in steps
# of the phone's clock from the server's, that are accepted; the others around them are refused.
WINDOWS = [
    (None, {-2: False, -1: True, 0: True, +1: True, +2: False}),
    ((0, 0), {-1: False, 0: True, +1: False}),
    ((3, 0), {-4: False, -3: True, -1: True, 0: True, +1: False}),
    ((0, 2), {-1: False, 0: True, +2: True, +3: False}),
]


async def verify(rt: Runtime, env: EnvironmentRecord, phone: Phone, code: str) -> None:
    await verify_code(rt, ACTOR, env, phone.user_id, code)


async def ready(
    rt: Runtime, clock: FrozenClock, window: tuple[int, int] | None
) -> EnvironmentRecord:
    env = await new_environment(rt)
    if window is not None:
        past, future = window
        await patch_auth_config(
            rt,
            ACTOR,
            env,
            {"totp": {"valid_past_tokens": past, "valid_future_tokens": future}},
        )
    return env


async def enrolled_earlier(rt: Runtime, clock: FrozenClock, env: EnvironmentRecord) -> Phone:
    """A user who confirmed ten steps ago, so that no code near now is below the replay floor."""
    phone = await enrolled_user(rt, clock, env, f"{secrets.token_hex(4)}@acme.test")
    clock.advance(10 * phone.params.period)
    return phone


@pytest.mark.parametrize(("window", "offsets"), WINDOWS)
async def test_acceptance_window(
    runtime: Runtime,
    clock: FrozenClock,
    window: tuple[int, int] | None,
    offsets: dict[int, bool],
) -> None:
    env = await ready(runtime, clock, window)
    outcome = {}
    for offset in offsets:
        phone = await enrolled_earlier(runtime, clock, env)
        try:
            await verify(runtime, env, phone, phone.code(clock, offset))
            outcome[offset] = True
        except InvalidCode:
            outcome[offset] = False
    assert outcome == offsets


async def test_same_code_twice_is_reused(runtime: Runtime, clock: FrozenClock) -> None:
    env = await ready(runtime, clock, None)
    phone = await enrolled_earlier(runtime, clock, env)
    code = phone.code(clock)
    await verify(runtime, env, phone, code)
    # Even as time moves on within the window, it stays spent; and reuse is not a failure.
    for _ in range(10):
        with pytest.raises(CodeReused):
            await verify(runtime, env, phone, code)
    clock.advance(phone.params.period)
    with pytest.raises(CodeReused):
        await verify(runtime, env, phone, code)
    await verify(runtime, env, phone, phone.code(clock))


async def test_older_step_after_newer_one_is_reused(runtime: Runtime, clock: FrozenClock) -> None:
    env = await ready(runtime, clock, None)
    phone = await enrolled_earlier(runtime, clock, env)
    older, current, newer = (phone.code(clock, k) for k in (-1, 0, +1))
    await verify(runtime, env, phone, newer)
    for code in (current, older):
        with pytest.raises(CodeReused):
            await verify(runtime, env, phone, code)


async def test_confirming_code_cannot_be_replayed(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    with pytest.raises(CodeReused):
        await verify(runtime, env, phone, phone.code(clock))
    await verify(runtime, env, phone, phone.code(clock, +1))
