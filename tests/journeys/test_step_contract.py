"""ONE contract every step type runs through, on both engines.

Each step type has a scenario: a small journey around it, what the user answers, and how the
journey must end, once when things go right and once when they go wrong. Every run is checked
against the same contract: the step answers with the step id of its kind; a wrong answer to a
client-facing step asks again with an error, or takes the failure branch; the state stored
between requests is plain JSON without a password, code or secret; a server restart between
requests changes nothing; a finished session is refused with ``journey_expired``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.services.support import ACTOR, PASSWORD, Phone, enroll, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.errors import JourneyExpired
from twostep.journeys import runner
from twostep.journeys.catalog import put_journey
from twostep.journeys.context import JourneyState
from twostep.journeys.runner import Answer, Rejection, StepAnswer, Success
from twostep.journeys.steps import KINDS, REGISTRY, Step
from twostep.otp import b32encode, code_for_step, parse_key_uri, time_step
from twostep.services.accounts import get_user
from twostep.services.recovery import use_recovery_code
from twostep.services.runtime import Runtime
from twostep.services.verification import verify_code
from twostep.storage.repositories.journeys import get_session
from twostep.storage.repositories.organizations import EnvironmentRecord

EMAIL = "ann@acme.test"


@dataclass
class Harness:
    rt: Runtime
    clock: FrozenClock
    env: EnvironmentRecord
    user_id: str
    phone: Phone | None = None
    secrets: set[str] = field(default_factory=set)
    shown: StepAnswer | None = None  # the answer the next input replies to

    @property
    def client_id(self) -> str:
        return f"{self.env.organization_domain}-production"

    def code(self) -> str:
        assert self.phone is not None
        self.clock.advance(self.phone.params.period)
        code = self.phone.code(self.clock)
        self.secrets.add(code)
        return code


Input = dict[str, Any] | Callable[[Harness], dict[str, Any]]
Setup = Callable[[Harness], Awaitable[None]]


@dataclass(frozen=True)
class Path:
    """What the user sends (after the start) and how the journey must end: ``"Success"``, or
    the code of the Rejection."""

    inputs: list[Input]
    ends: str
    start_input: dict[str, Any] = field(default_factory=dict)
    setup: Setup | None = None
    asks_again: int = 0  # answers of the step under test that carry an error


@dataclass(frozen=True)
class Scenario:
    kind: str
    steps: list[dict[str, Any]]
    good: Path
    bad: Path
    start: str = "pw"
    check: Callable[[Harness, list[Answer]], Awaitable[None]] | None = None


def step(
    id: str, type: str, next: str | None = None, on_failure: str | None = None, **config: Any
) -> dict[str, Any]:
    return {"id": id, "type": type, "next": next, "on_failure": on_failure, "config": config}


def login(h: Harness) -> dict[str, Any]:
    return {"username": EMAIL, "password": PASSWORD}


def wrong_password(h: Harness) -> dict[str, Any]:
    return {"username": EMAIL, "password": "not the password"}


async def enrolled(h: Harness) -> None:
    h.phone = await enroll(h.rt, h.clock, h.env, h.user_id)
    h.secrets.update(h.phone.recovery_codes)
    h.secrets.add(b32encode(h.phone.secret))


PW = step("pw", "password", "s", "no", max_attempts=2)
# Password, then a code: what a step that weakens the second factor needs first (spec 3b.2).
PW_CODE = [
    step("pw", "password", "t", "no", max_attempts=2),
    step("t", "authenticate_totp", "s", "no"),
]
DONE = step("done", "complete")
NO = step("no", "reject")
WENT_NEXT = step("went_next", "reject", code="went_next")
WENT_FAILURE = step("went_failure", "reject", code="went_failure")


async def check_registration(h: Harness, answers: list[Answer]) -> None:
    registration = next(
        a for a in answers if isinstance(a, StepAnswer) and a.step_id == "TotpRegistration"
    )
    key = parse_key_uri(registration.payload["uri"])
    assert registration.payload["secret"] == b32encode(key.secret)
    assert key.account == "Ann <ann@acme.test>"  # the label expression
    h.secrets.add(registration.payload["secret"])


async def check_disabled(h: Harness, answers: list[Answer]) -> None:
    view = await get_user(h.rt, h.env, h.user_id)
    assert view.two_factor.enabled is False


async def check_new_codes(h: Harness, answers: list[Answer]) -> None:
    shown = next(a for a in answers if isinstance(a, StepAnswer) and a.step_id == "RecoveryCodes")
    codes = shown.payload["codes"]
    assert len(set(codes)) == 5
    h.secrets.update(codes)
    assert h.phone is not None
    with pytest.raises(Exception, match="not valid"):  # the old set is gone
        await use_recovery_code(h.rt, ACTOR, h.env, h.user_id, h.phone.recovery_codes[1])


def new_key_code(h: Harness) -> dict[str, Any]:
    """The first code of the new key a ``TotpReplacement`` page shows."""
    assert h.shown is not None
    assert h.shown.step_id == "TotpReplacement"
    h.secrets.add(h.shown.payload["secret"])
    key = parse_key_uri(h.shown.payload["uri"])
    h.clock.advance(key.params.period)
    return {"code": code_for_step(key.secret, key.params, time_step(h.clock.now(), 30))}


def old_phone_code(h: Harness) -> dict[str, Any]:
    """A code of the old key: never one of the new key a ``TotpReplacement`` page shows."""
    assert h.phone is not None
    return {"code": h.phone.wrong_code(h.clock)}


async def check_replaced(h: Harness, answers: list[Answer]) -> None:
    assert h.phone is not None
    with pytest.raises(Exception, match="not valid"):  # the old phone's codes no longer work
        await verify_code(h.rt, ACTOR, h.env, h.user_id, h.code())


SCENARIOS = [
    Scenario(
        "password",
        [step("pw", "password", "done", "no", max_attempts=2), DONE, NO],
        good=Path([login], "Success"),
        bad=Path([wrong_password, wrong_password], "invalid_credentials", asks_again=1),
    ),
    Scenario(
        "register_totp",
        [
            step("pw", "password", "s", "no"),
            step(
                "s",
                "register_totp",
                "done",
                "failed",
                label="'Ann <' + user.email + '>'",
                failure_behavior="branch",
                error_output_variable="err",
            ),
            step(
                "failed",
                "condition",
                "went_failure",
                "no",
                expression="vars.err.code == 'totp_already_enrolled'",
            ),
            DONE,
            NO,
            WENT_FAILURE,
        ],
        good=Path([login, {}], "Success"),
        bad=Path([login], "went_failure", setup=enrolled),
        check=check_registration,
    ),
    Scenario(
        "authenticate_totp",
        [PW, step("s", "authenticate_totp", "done", "no"), DONE, NO],
        good=Path([login, lambda h: {"code": h.code()}], "Success", setup=enrolled),
        bad=Path(
            [
                login,
                lambda h: {"code": h.phone.wrong_code(h.clock) if h.phone else ""},
                {"alternative": "recovery_code"},
            ],
            "access_denied",
            setup=enrolled,
            asks_again=1,
        ),
    ),
    Scenario(
        "recovery_code",
        [PW, step("s", "recovery_code", "done", "no"), DONE, NO],
        good=Path(
            [login, lambda h: {"code": h.phone.recovery_codes[0] if h.phone else ""}],
            "Success",
            setup=enrolled,
        ),
        bad=Path(
            [login] + [{"code": "aaaa-bbbb-cccc-dddd"}] * 5,
            "recovery_code_invalid",
            setup=enrolled,
            asks_again=4,
        ),
    ),
    Scenario(
        "replace_totp",
        [*PW_CODE, step("s", "replace_totp", "done", "no"), DONE, NO],
        good=Path([login, lambda h: {"code": h.code()}, new_key_code], "Success", setup=enrolled),
        bad=Path(
            [login, lambda h: {"code": h.code()}, *[old_phone_code] * 5],
            "invalid_code",
            setup=enrolled,
            asks_again=4,
        ),
        check=check_replaced,
    ),
    Scenario(
        "show_recovery_codes",
        [*PW_CODE, step("s", "show_recovery_codes", "done"), DONE, NO],
        good=Path(
            [login, lambda h: {"code": h.code()}, {"confirmed": True}], "Success", setup=enrolled
        ),
        bad=Path(
            [login, lambda h: {"code": h.code()}, {"confirmed": "yes"}, {}, {"confirmed": True}],
            "Success",
            setup=enrolled,
            asks_again=2,
        ),
        check=check_new_codes,
    ),
    Scenario(
        "consent",
        [PW, step("s", "consent", "done", "no"), DONE, NO],
        good=Path([login, {"approve": True}], "Success"),
        bad=Path([login, {"approve": "yes"}, {"approve": False}], "access_denied", asks_again=1),
    ),
    Scenario(
        "send_code",
        # The code sent is the one the next step accepts; without an authenticator, it fails
        # over to the end (the password alone then signs in).
        [PW, step("s", "send_code", "t"), step("t", "authenticate_totp", "done", "done"), DONE, NO],
        good=Path([login, lambda h: {"code": h.code()}], "Success", setup=enrolled),
        bad=Path([login], "Success"),  # no authenticator: nothing to send, never a failure
    ),
    Scenario(
        "disable_totp",
        [*PW_CODE, step("s", "disable_totp", "done"), DONE, NO],
        good=Path([login, lambda h: {"code": h.code()}], "Success", setup=enrolled),
        bad=Path(
            [wrong_password, wrong_password], "invalid_credentials", setup=enrolled, asks_again=0
        ),
        check=check_disabled,
    ),
    Scenario(
        "condition",
        [
            step("s", "condition", "went_next", "went_failure", expression="input.x >= 1"),
            WENT_NEXT,
            WENT_FAILURE,
        ],
        good=Path([], "went_next", start_input={"x": 1}),
        # No x at all: null >= 1 is an error, which is a failed condition.
        bad=Path([], "went_failure"),
        start="s",
    ),
    Scenario(
        "set_variable",
        [
            step("s", "set_variable", "c", name="v", value="input.x + 1"),
            step("c", "condition", "went_next", "went_failure", expression="vars.v == 2"),
            WENT_NEXT,
            WENT_FAILURE,
        ],
        good=Path([], "went_next", start_input={"x": 1}),
        bad=Path([], "went_failure", start_input={"x": "one"}),
        start="s",
    ),
    Scenario(
        "complete",
        [step("pw", "password", "s", "s"), step("s", "complete")],
        good=Path([login], "Success"),
        # The failure branch leads here too: nobody signed in, so no token.
        bad=Path([wrong_password] * 5, "not_authenticated"),
    ),
    Scenario(
        "reject",
        [step("s", "reject", code="custom_code", detail="Not today.")],
        good=Path([], "custom_code"),
        bad=Path([], "custom_code"),
        start="s",
    ),
]


def test_every_step_type_has_a_class_and_a_scenario() -> None:
    assert set(REGISTRY) == set(KINDS)
    assert {s.kind for s in SCENARIOS} == set(KINDS)
    for name, cls in REGISTRY.items():
        answers_input = cls.submit is not Step.submit
        assert answers_input is KINDS[name].client_facing, name


async def run_path(
    rt: Runtime, clock: FrozenClock, scenario: Scenario, path: Path
) -> tuple[Harness, list[Answer]]:
    env = await new_environment(rt)
    h = Harness(rt, clock, env, await new_user(rt, env, EMAIL))
    h.secrets.add(PASSWORD)
    if path.setup is not None:
        await path.setup(h)
    definition = {"start": scenario.start, "steps": scenario.steps}
    await put_journey(rt, ACTOR, env, "contract", definition)
    answers = [await runner.start_journey(rt, ACTOR, "contract", h.client_id, path.start_input)]
    for given in path.inputs:
        current = answers[-1]
        assert isinstance(current, StepAnswer), f"ended early with {current}"
        await assert_stored_state_is_clean(h, current.session)
        rt.compiled_journeys.clear()  # as if another process (or a restarted one) took the submit
        h.shown = current
        value = given(h) if callable(given) else given
        h.secrets.update(str(value[k]) for k in ("password", "code") if value.get(k))
        answers.append(await runner.submit_answer(rt, ACTOR, current.session, value))
    return h, answers


async def assert_stored_state_is_clean(h: Harness, session_id: str) -> None:
    async with h.rt.db.transaction() as tx:
        row = await get_session(tx, session_id)
    assert row is not None
    JourneyState.model_validate(row.state)
    stored = json.dumps(row.state)
    for secret in h.secrets:
        assert secret not in stored


def outcome(answer: Answer) -> str:
    if isinstance(answer, Success):
        return "Success"
    assert isinstance(answer, Rejection), f"still waiting at {answer}"
    return answer.error.code


@pytest.mark.parametrize("path_name", ["good", "bad"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.kind)
async def test_step_contract(
    runtime: Runtime, clock: FrozenClock, scenario: Scenario, path_name: str
) -> None:
    path: Path = getattr(scenario, path_name)
    h, answers = await run_path(runtime, clock, scenario, path)
    assert outcome(answers[-1]) == path.ends

    kind = KINDS[scenario.kind]
    paused = [a for a in answers if isinstance(a, StepAnswer)]
    own = [a for a in paused if a.step_id == kind.step_id] if kind.client_facing else []
    if kind.client_facing and path_name == "good":
        assert own
        assert own[0].error is None
    asked_again = [a for a in own if a.error is not None]
    assert len(asked_again) == path.asks_again
    for answer in asked_again:
        assert answer.error is not None
        assert answer.error.detail("en")
        assert answer.payload == own[0].payload
    if isinstance(answers[-1], Success):
        assert answers[-1].data["token"].startswith("tss_")
        assert "pwd" in answers[-1].data["amr"]
    if scenario.check is not None and path_name == "good":
        await scenario.check(h, answers)
    if paused:
        await assert_stored_state_is_clean(h, paused[-1].session)
        with pytest.raises(JourneyExpired):
            await runner.submit_answer(runtime, ACTOR, paused[-1].session, {})
