"""Remember this device (issue 12.2) through the login journey, on both engines with a frozen
clock: a trusted browser skips the code for the days the environment allows, for its own user
and environment only, never for a step-up, and is forgotten when trust in the user changes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.services.support import ACTOR, PASSWORD, Phone, enroll, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.errors import ReauthenticationRequired
from twostep.journeys import runner
from twostep.journeys.runner import StepAnswer, Success
from twostep.services import devices, enrollment
from twostep.services.accounts import update_user
from twostep.services.organizations import environment_by_id, environment_for, patch_auth_config
from twostep.services.reauth import require_fresh_factor
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord, Principal
from twostep.storage.tables import events

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CLIENT = "acme-production"


async def trusting(rt: Runtime, days: int = 30) -> EnvironmentRecord:
    env = await new_environment(rt)
    await patch_auth_config(rt, ACTOR, env, {"remember_device": {"days": days}})
    return await environment_by_id(rt, env.id)


async def to_code(
    rt: Runtime, email: str, device: str | None = None, client: str = CLIENT, **vars: Any
) -> runner.Answer:
    """Start the login and type the password, with the browser's device token if any."""
    first = await runner.start_journey(rt, ACTOR, "login", client, {}, vars=vars or None)
    assert isinstance(first, StepAnswer)
    answer: dict[str, Any] = {"username": email, "password": PASSWORD}
    if device is not None:
        answer["remembered_device"] = device
    return await runner.submit_answer(rt, ACTOR, first.session, answer)


async def remembered(rt: Runtime, clock: FrozenClock, phone: Phone, email: str) -> str:
    """Sign in with a code and "Trust this browser" ticked: the browser's new token."""
    asked = await to_code(rt, email)
    assert isinstance(asked, StepAnswer)
    assert asked.step_id == "TotpAuthentication"
    token = devices.new_device_token()
    clock.advance(30)
    done = await runner.submit_answer(
        rt,
        ACTOR,
        asked.session,
        {
            "code": phone.code(clock),
            "remember_device": True,
            "device_token": token,
            "device_agent": AGENT,
        },
    )
    assert isinstance(done, Success), done
    assert done.session.amr == ("pwd", "otp")
    return token


async def user_with_phone(
    rt: Runtime, clock: FrozenClock, env: EnvironmentRecord, email: str = "ann@acme.test"
) -> Phone:
    return await enroll(rt, clock, env, await new_user(rt, env, email))


def asks_code(answer: runner.Answer) -> bool:
    return isinstance(answer, StepAnswer) and answer.step_id == "TotpAuthentication"


async def test_a_trusted_browser_signs_in_with_the_password(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await trusting(runtime)
    phone = await user_with_phone(runtime, clock, env)
    offer = await to_code(runtime, "ann@acme.test")
    assert isinstance(offer, StepAnswer)
    assert offer.payload == {"alternatives": ["recovery_code"], "remember_days": 30}
    token = await remembered(runtime, clock, phone, "ann@acme.test")

    clock.advance(3600)
    again = await to_code(runtime, "ann@acme.test", token)
    assert isinstance(again, Success), again
    assert again.session.amr == ("pwd", "device")
    listed = await devices.list_devices(runtime, env, phone.user_id)
    assert [(d.agent, d.last_used_at) for d in listed] == [("Firefox on Linux", clock.now())]
    # Another browser (no cookie, or a made-up one) is asked the code.
    assert asks_code(await to_code(runtime, "ann@acme.test"))
    assert asks_code(await to_code(runtime, "ann@acme.test", devices.new_device_token()))


async def test_a_stolen_token_is_useless_for_another_user_or_environment(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await trusting(runtime)
    ann = await user_with_phone(runtime, clock, env)
    bob = await user_with_phone(runtime, clock, env, "bob@acme.test")
    token = await remembered(runtime, clock, ann, "ann@acme.test")
    assert asks_code(await to_code(runtime, "bob@acme.test", token))
    sandbox = await trusting_sandbox(runtime)
    await user_with_phone(runtime, clock, sandbox, "ann@acme.test")
    assert asks_code(await to_code(runtime, "ann@acme.test", token, client="acme-sandbox"))
    assert bob.user_id != ann.user_id


async def trusting_sandbox(rt: Runtime) -> EnvironmentRecord:
    """The same organization's sandbox, trusting browsers too."""
    sandbox = await environment_for(rt, Principal("test", None), "acme", "sandbox")
    await patch_auth_config(rt, ACTOR, sandbox, {"remember_device": {"days": 30}})
    return await environment_by_id(rt, sandbox.id)


async def test_a_trusted_browser_expires(runtime: Runtime, clock: FrozenClock) -> None:
    env = await trusting(runtime, days=2)
    phone = await user_with_phone(runtime, clock, env)
    token = await remembered(runtime, clock, phone, "ann@acme.test")
    clock.advance(2 * 86400 - 60)
    assert isinstance(await to_code(runtime, "ann@acme.test", token), Success)
    clock.advance(61)
    assert asks_code(await to_code(runtime, "ann@acme.test", token))
    assert await devices.list_devices(runtime, env, phone.user_id) == []


async def test_a_device_never_answers_a_step_up(runtime: Runtime, clock: FrozenClock) -> None:
    env = await trusting(runtime)
    phone = await user_with_phone(runtime, clock, env)
    token = await remembered(runtime, clock, phone, "ann@acme.test")
    for vars in ({"require_mfa": True}, {"step_up": True}, {"reauthenticate_after": 1.0}):
        asked = await to_code(runtime, "ann@acme.test", token, **vars)
        assert asks_code(asked), vars
        assert isinstance(asked, StepAnswer)
        assert "remember_days" not in asked.payload
    signed_in = await to_code(runtime, "ann@acme.test", token)
    assert isinstance(signed_in, Success)
    # Nor a fresh second factor (spec 3b.2): the lock, disabling, new recovery codes.
    with pytest.raises(ReauthenticationRequired):
        await require_fresh_factor(
            runtime,
            ACTOR,
            env,
            phone.user_id,
            client_id=None,
            amr=list(signed_in.session.amr),
            auth_time=clock.now(),
        )


async def test_off_shows_no_offer_and_ignores_tokens(runtime: Runtime, clock: FrozenClock) -> None:
    env = await trusting(runtime)
    phone = await user_with_phone(runtime, clock, env)
    token = await remembered(runtime, clock, phone, "ann@acme.test")
    await patch_auth_config(runtime, ACTOR, env, {"remember_device": {"days": 0}})
    asked = await to_code(runtime, "ann@acme.test", token)
    assert isinstance(asked, StepAnswer)
    assert asked.payload == {"alternatives": ["recovery_code"]}
    clock.advance(30)
    done = await runner.submit_answer(
        runtime,
        ACTOR,
        asked.session,
        {"code": phone.code(clock), "remember_device": True, "device_token": "x" * 43},
    )
    assert isinstance(done, Success)
    assert len(await devices.list_devices(runtime, env, phone.user_id)) == 1  # only the first


@pytest.mark.parametrize("change", ["password", "admin_reset", "disable", "user"])
async def test_trust_ends_with_a_change_of_trust(
    runtime: Runtime, clock: FrozenClock, change: str
) -> None:
    env = await trusting(runtime)
    phone = await user_with_phone(runtime, clock, env)
    token = await remembered(runtime, clock, phone, "ann@acme.test")
    if change == "password":
        await update_user(runtime, ACTOR, env, phone.user_id, {"password": PASSWORD + "!"})
    elif change == "admin_reset":
        await enrollment.reset(runtime, ACTOR, env, phone.user_id)
    elif change == "disable":  # the user's own disable journey keeps its session
        await enrollment.reset(runtime, ACTOR, env, phone.user_id, end_sessions=False)
    else:
        (device,) = await devices.list_devices(runtime, env, phone.user_id)
        await devices.forget_device(runtime, ACTOR, env, phone.user_id, device.id)
    assert await devices.list_devices(runtime, env, phone.user_id) == []
    if change in ("admin_reset", "disable"):
        await enroll(runtime, clock, env, phone.user_id)
    if change != "password":
        assert asks_code(await to_code(runtime, "ann@acme.test", token))


def test_the_browser_is_summed_up_not_kept() -> None:
    chrome_mac = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    )
    edge = chrome_mac.replace("Macintosh; Intel Mac OS X 10_15_7", "Windows NT 10.0") + " Edg/126"
    assert devices.agent_summary(chrome_mac) == "Chrome on macOS"
    assert devices.agent_summary(edge) == "Edge on Windows"
    assert devices.agent_summary(AGENT) == "Firefox on Linux"
    assert devices.agent_summary("curl/8.0") == "Unknown browser"
    assert devices.agent_summary(None) == "Unknown browser"


async def device_events(rt: Runtime) -> list[tuple[str, str]]:
    """The device events written to the outbox, oldest first: (type, reason or agent)."""
    stmt = (
        select(events.c.type, events.c.data)
        .where(events.c.type.like("device.%"))
        .order_by(events.c.created_at)
    )
    async with rt.db.transaction() as tx:
        rows = (await tx.execute(stmt)).all()
    return [(row.type, row.data.get("reason") or row.data["agent"]) for row in rows]


async def test_remembering_and_revoking_are_events(runtime: Runtime, clock: FrozenClock) -> None:
    env = await trusting(runtime)
    phone = await user_with_phone(runtime, clock, env)
    await remembered(runtime, clock, phone, "ann@acme.test")
    clock.advance(1)
    (device,) = await devices.list_devices(runtime, env, phone.user_id)
    await devices.forget_device(runtime, ACTOR, env, phone.user_id, device.id)
    await remembered(runtime, clock, phone, "ann@acme.test")
    clock.advance(1)
    await update_user(runtime, ACTOR, env, phone.user_id, {"password": PASSWORD + "!"})
    assert await device_events(runtime) == [
        ("device.remembered", "Firefox on Linux"),
        ("device.revoked", "revoked"),
        ("device.remembered", "Firefox on Linux"),
        ("device.revoked", "trust_change"),
    ]
