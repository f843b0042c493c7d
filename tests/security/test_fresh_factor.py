"""Which authenticator a sign-in asks (spec 3b.1) and when a second factor is fresh (3b.2),
decided by the services on both engines with a frozen clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.support import (
    ACTOR,
    PASSWORD,
    add_application,
    enroll,
    new_environment,
    new_user,
)
from twostep.clock import FrozenClock
from twostep.errors import CodeReused, InvalidCode, ReauthenticationRequired
from twostep.journeys import runner
from twostep.journeys.catalog import put_journey
from twostep.journeys.runner import Rejection, StepAnswer
from twostep.services import enrollment
from twostep.services.factors import second_factor_required, sign_in_authenticator
from twostep.services.reauth import require_fresh_factor
from twostep.services.recovery import use_recovery_code
from twostep.services.runtime import Runtime


async def test_the_applications_own_then_the_default_then_the_oldest(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    shop, blog, news = [await add_application(runtime, env, c) for c in ("shop", "blog", "news")]
    user = await new_user(runtime, env, "ann@acme.test")
    assert await sign_in_authenticator(runtime, env, user, shop) is None
    assert not await second_factor_required(runtime, env, user, shop)

    blog_phone = await enroll(runtime, clock, env, user, client_id=blog)
    clock.advance(60)
    await enroll(runtime, clock, env, user, client_id=shop)
    clock.advance(60)
    # A pending registration never counts, not even for its own application.
    await enrollment.register(runtime, ACTOR, env, user, client_id=news)

    async def chosen(client_id: str | None) -> str | None:
        found = await sign_in_authenticator(runtime, env, user, client_id)
        return None if found is None else found.application_id

    shop_app = await chosen(shop)
    blog_app = await chosen(blog)
    assert shop_app != blog_app
    # No default application's authenticator: the oldest active one (the blog's).
    assert await chosen(news) == blog_app
    assert await chosen(None) == blog_app
    assert await second_factor_required(runtime, env, user, news)

    await enroll(runtime, clock, env, user)  # now the default application has one
    default_app = await chosen(None)
    assert default_app not in (shop_app, blog_app)
    assert await chosen(news) == default_app
    assert await chosen(shop) == shop_app
    assert blog_phone.client_id == blog


async def test_a_fresh_second_factor_or_a_code_now(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    user = await new_user(runtime, env, "ann@acme.test")
    phone = await enroll(runtime, clock, env, user)
    reauth_s = runtime.settings.reauth_s

    async def fresh(amr: list[str], age: float, code: str | None = None) -> None:
        await require_fresh_factor(
            runtime,
            ACTOR,
            env,
            user,
            client_id=None,
            amr=amr,
            auth_time=clock.now() - age,
            code=code,
        )

    await fresh(["pwd", "otp"], 0)
    await fresh(["pwd", "recovery"], reauth_s)
    for amr, age in [(["pwd", "otp"], reauth_s + 1), (["pwd"], 0), ([], 0)]:
        with pytest.raises(ReauthenticationRequired):
            await fresh(amr, age)

    clock.advance(30)
    with pytest.raises(InvalidCode):
        await fresh(["pwd"], 0, phone.wrong_code(clock))
    await fresh(["pwd"], 0, phone.code(clock))
    with pytest.raises(CodeReused):  # replay is refused as at sign-in
        await fresh(["pwd"], 0, phone.code(clock))
    await fresh(["pwd", "otp"], reauth_s + 1, phone.recovery_codes[0])


async def test_without_a_second_factor_a_recent_sign_in_stands_in(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    user = await new_user(runtime, env, "ann@acme.test")
    reauth_s = runtime.settings.reauth_s
    await require_fresh_factor(
        runtime, ACTOR, env, user, client_id=None, amr=["pwd"], auth_time=clock.now() - reauth_s
    )
    with pytest.raises(ReauthenticationRequired):
        await require_fresh_factor(
            runtime,
            ACTOR,
            env,
            user,
            client_id=None,
            amr=["pwd"],
            auth_time=clock.now() - reauth_s - 1,
        )


@pytest.mark.parametrize(
    "weakening",
    [
        {"id": "s", "type": "disable_totp", "next": "done"},
        {"id": "s", "type": "show_recovery_codes", "next": "done"},
        {
            "id": "s",
            "type": "register_totp",
            "next": "done",
            "config": {"user_auth_state": "authenticated", "failure_behavior": "abort"},
        },
    ],
    ids=lambda step: step["type"],
)
async def test_a_journey_weakens_nothing_on_the_password_alone(
    runtime: Runtime, clock: FrozenClock, weakening: dict[str, Any]
) -> None:
    """A published journey that runs a weakening step right after the password is refused,
    whichever application it signs in to; the user's authenticator and codes are untouched."""
    env = await new_environment(runtime)
    shop = await add_application(runtime, env, "shop")
    user = await new_user(runtime, env, "ann@acme.test")
    phone = await enroll(runtime, clock, env, user)
    definition = {
        "start": "pw",
        "steps": [
            {"id": "pw", "type": "password", "next": "s", "on_failure": "no"},
            weakening,
            {"id": "done", "type": "complete"},
            {"id": "no", "type": "reject"},
        ],
    }
    await put_journey(runtime, ACTOR, env, "weaken", definition)
    first = await runner.start_journey(runtime, ACTOR, "weaken", shop, {})
    assert isinstance(first, StepAnswer)
    answer = await runner.submit_answer(
        runtime, ACTOR, first.session, {"username": "ann@acme.test", "password": PASSWORD}
    )
    assert isinstance(answer, Rejection), answer
    assert answer.error.code == "reauthentication_required"
    assert await sign_in_authenticator(runtime, env, user, shop) is not None
    assert await use_recovery_code(runtime, ACTOR, env, user, phone.recovery_codes[0]) == 4
