"""Learned clock drift (a phone 40 s late): the window moves after agreeing codes, never widens,
and never lets a spent step through; codes come from oathtool at the phone's skewed time."""

from __future__ import annotations

import subprocess

import pytest

from tests.services.support import ACTOR, Phone, enrolled_user, new_environment
from twostep.clock import FrozenClock
from twostep.errors import CodeReused, InvalidCode
from twostep.otp import b32encode
from twostep.otp.drift import Drift, learn_drift
from twostep.services.accounts import get_user
from twostep.services.runtime import Runtime
from twostep.services.verification import verify_code
from twostep.storage.repositories.organizations import EnvironmentRecord

LATE_S = 40  # the phone's clock runs 40 s behind the server's (period 30, window 1 back)
PERIOD = 30


def oathtool_code(phone: Phone, at: float) -> str:
    """What the phone shows at server time ``at``: oathtool at the phone's own time."""
    out = subprocess.run(
        ["oathtool", "--totp", "-b", "-N", f"@{int(at)}", b32encode(phone.secret)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def at_phase(clock: FrozenClock, seconds: int) -> None:
    """Move the clock forward to ``seconds`` into a later period."""
    clock.advance(PERIOD - clock.now() % PERIOD + seconds)


async def late_code_accepted(
    rt: Runtime, env: EnvironmentRecord, phone: Phone, clock: FrozenClock
) -> str:
    """Accept a code typed 20 s into a period: the phone is then one step behind."""
    at_phase(clock, 20)
    code = oathtool_code(phone, clock.now() - LATE_S)
    await verify_code(rt, ACTOR, env, phone.user_id, code)
    return code


async def test_drift_is_learned_within_bounds(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    clock.advance(10 * PERIOD)
    # 5 s into a period, 40 s late is two steps behind: outside the window of one back.
    at_phase(clock, 5)
    with pytest.raises(InvalidCode):
        await verify_code(
            runtime, ACTOR, env, phone.user_id, oathtool_code(phone, clock.now() - LATE_S)
        )
    assert (await get_user(runtime, env, phone.user_id)).two_factor.drift_s == 0
    for _ in range(3):
        await late_code_accepted(runtime, env, phone, clock)
    assert (await get_user(runtime, env, phone.user_id)).two_factor.drift_s == -PERIOD
    # Learned: two steps behind is now inside; the window is as wide as before, so the step
    # after the server's current one (accepted at first) is now refused.
    at_phase(clock, PERIOD + 5)  # a period later: the last code was one step behind
    await verify_code(
        runtime, ACTOR, env, phone.user_id, oathtool_code(phone, clock.now() - LATE_S)
    )
    at_phase(clock, 5)
    with pytest.raises(InvalidCode):
        await verify_code(runtime, ACTOR, env, phone.user_id, phone.code(clock, +1))
    await verify_code(runtime, ACTOR, env, phone.user_id, phone.code(clock, 0))


async def test_clock_jump_back_never_reuses_a_step(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    clock.advance(10 * PERIOD)
    codes = [await late_code_accepted(runtime, env, phone, clock) for _ in range(3)]
    clock.advance(-5 * PERIOD)  # the server's clock is set back
    for code in codes:
        with pytest.raises((CodeReused, InvalidCode)):
            await verify_code(runtime, ACTOR, env, phone.user_id, code)
    clock.advance(-clock.now() % PERIOD)
    for offset in (-2, -1, 0, 1):
        with pytest.raises((CodeReused, InvalidCode)):
            await verify_code(runtime, ACTOR, env, phone.user_id, phone.code(clock, offset))


def test_offsets_must_agree_and_stay_inside_the_window() -> None:
    drift = Drift()
    for offset in (-1, -1):
        drift = learn_drift(drift, offset, valid_past_tokens=1, valid_future_tokens=1)
    assert drift.steps == 0
    drift = learn_drift(drift, -1, valid_past_tokens=1, valid_future_tokens=1)
    assert drift == Drift(-1, (-1, -1, -1))
    drift = learn_drift(drift, 0, valid_past_tokens=1, valid_future_tokens=1)
    assert drift.steps == -1  # one disagreeing code keeps what was learned
    for _ in range(3):
        drift = learn_drift(drift, -2, valid_past_tokens=1, valid_future_tokens=1)
    assert drift.steps == -1  # never more than the window's own edge
    for _ in range(3):
        drift = learn_drift(drift, 1, valid_past_tokens=1, valid_future_tokens=0)
    assert drift.steps == 0
    assert Drift.decoded(drift.steps, drift.encoded()) == drift
