"""The runner's promises beyond single steps: expiry, racing submits, pinned versions."""

from __future__ import annotations

import asyncio

import pytest

from tests.services.support import ACTOR, PASSWORD, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.errors import Conflict, JourneyExpired, NotFound
from twostep.journeys import runner
from twostep.journeys.catalog import put_journey
from twostep.journeys.runner import Rejection, StepAnswer, Success
from twostep.services.runtime import Runtime

EMAIL = "ann@acme.test"
LOGIN = {"username": EMAIL, "password": PASSWORD}


async def started(rt: Runtime, journey: str = "login") -> StepAnswer:
    env = await new_environment(rt)
    await new_user(rt, env, EMAIL)
    answer = await runner.start_journey(rt, ACTOR, journey, "acme-production", {})
    assert isinstance(answer, StepAnswer)
    assert answer.step_id == "Password"
    return answer


async def test_a_session_expires_after_ten_minutes(runtime: Runtime, clock: FrozenClock) -> None:
    answer = await started(runtime)
    clock.advance(599)
    wrong = await runner.submit_answer(
        runtime, ACTOR, answer.session, {"username": EMAIL, "password": "x"}
    )
    assert isinstance(wrong, StepAnswer)
    clock.advance(2)  # 601 s after the start: each answer does not extend the session
    with pytest.raises(JourneyExpired):
        await runner.submit_answer(runtime, ACTOR, answer.session, LOGIN)


async def test_unknown_sessions_journeys_and_clients(runtime: Runtime) -> None:
    await started(runtime)
    with pytest.raises(JourneyExpired):
        await runner.submit_answer(runtime, ACTOR, "no-such-session", {})
    with pytest.raises(NotFound):
        await runner.start_journey(runtime, ACTOR, "no-such-journey", "acme-production", {})
    with pytest.raises(NotFound):
        await runner.start_journey(runtime, ACTOR, "login", "no-such-client", {})


async def test_racing_submits_advance_the_session_once(runtime: Runtime) -> None:
    answer = await started(runtime)
    results = await asyncio.gather(
        *(runner.submit_answer(runtime, ACTOR, answer.session, LOGIN) for _ in range(8)),
        return_exceptions=True,
    )
    successes = [r for r in results if isinstance(r, Success)]
    refused = [r for r in results if isinstance(r, Conflict | JourneyExpired)]
    assert len(successes) == 1, results
    assert len(refused) == 7, results


async def test_a_running_journey_keeps_the_version_it_started_with(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    await new_user(runtime, env, EMAIL)
    first = {
        "start": "pw",
        "steps": [
            {"id": "pw", "type": "password", "next": "done", "on_failure": "no"},
            {"id": "done", "type": "complete"},
            {"id": "no", "type": "reject"},
        ],
    }
    await put_journey(runtime, ACTOR, env, "custom", first)
    answer = await runner.start_journey(runtime, ACTOR, "custom", "acme-production", {})
    assert isinstance(answer, StepAnswer)
    second = {
        "start": "pw",
        "steps": [
            {"id": "pw", "type": "password", "next": "no", "on_failure": "no"},
            {"id": "no", "type": "reject", "config": {"code": "version_two"}},
        ],
    }
    await put_journey(runtime, ACTOR, env, "custom", second)
    runtime.compiled_journeys.clear()
    assert isinstance(await runner.submit_answer(runtime, ACTOR, answer.session, LOGIN), Success)
    fresh = await runner.start_journey(runtime, ACTOR, "custom", "acme-production", {})
    assert isinstance(fresh, StepAnswer)
    ended = await runner.submit_answer(runtime, ACTOR, fresh.session, LOGIN)
    assert isinstance(ended, Rejection)
    assert ended.error.code == "version_two"
