"""Sessions end when trust changes (spec 3b.8): disabling a user, changing their password, an
admin reset of their second factor and closing their lock end every session, refresh token and
access token of theirs at once; an unrelated change (an email) ends nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import pytest

from tests.e2e.test_api_errors import enroll as enroll_over_http
from tests.oauth.support import World, new_world
from tests.oauth.test_refresh import exchange
from tests.server import Api
from tests.services.support import ACTOR, enroll, new_user
from twostep.client import JourneyClient, ProblemError, Success
from twostep.clock import FrozenClock
from twostep.errors import NotAuthenticated
from twostep.oauth.errors import OAuthError
from twostep.oauth.introspection import introspect
from twostep.services import accounts, enrollment, locks
from twostep.services.authentication import issue_session, read_session
from twostep.services.organizations import patch_auth_config
from twostep.services.runtime import Runtime
from twostep.storage.repositories.users import pair_lock

PASSWORD = "correct horse battery staple"

Trigger = Callable[[World], Awaitable[object]]


async def _disable(world: World) -> object:
    return await accounts.update_user(
        world.rt, ACTOR, world.env, world.user.id, {"status": "disabled"}
    )


async def _change_password(world: World) -> object:
    return await accounts.update_user(
        world.rt, ACTOR, world.env, world.user.id, {"password": "a brand new passphrase"}
    )


async def _admin_reset(world: World) -> object:
    return await enrollment.reset(world.rt, ACTOR, world.env, world.user.id)


async def _close_lock(world: World) -> object:
    return await locks.set_lock(world.rt, ACTOR, world.env, world.user.id, closed=True)


async def _change_email(world: World) -> object:
    return await accounts.update_user(
        world.rt, ACTOR, world.env, world.user.id, {"email": "ann.new@acme.test"}
    )


TRIGGERS: dict[str, Trigger] = {
    "disable": _disable,
    "password": _change_password,
    "admin_reset": _admin_reset,
    "lock_close": _close_lock,
}


@pytest.fixture
async def world(runtime: Runtime, clock: FrozenClock) -> World:
    """A user with an authenticator and a paired (open) lock, in an environment with locks."""
    world = await new_world(runtime)
    await enroll(runtime, clock, world.env, world.user.id)
    await patch_auth_config(runtime, ACTOR, world.env, {"lock": {"enabled": True}})
    async with runtime.db.transaction() as tx:
        assert await pair_lock(tx, world.env.id, world.user.id, clock.now())
    return world


async def _signed_in(world: World) -> tuple[str, str, str, str]:
    """A journey session token, a JWT access token, an opaque one and a refresh token."""
    issued = await issue_session(
        world.rt,
        ACTOR,
        world.env,
        user_id=world.user.id,
        client_id=world.client_id,
        amr=["pwd", "otp"],
        auth_time=world.rt.clock.now(),
    )
    jwt_tokens = await world.login()
    opaque = await world.login(token_format="opaque", with_refresh=False)
    assert jwt_tokens.refresh_token is not None
    return issued.token, jwt_tokens.access_token, opaque.access_token, jwt_tokens.refresh_token


@pytest.mark.parametrize("trigger", list(TRIGGERS))
async def test_a_change_of_trust_ends_every_session_and_token(world: World, trigger: str) -> None:
    session, jwt_access, opaque_access, refresh_token = await _signed_in(world)
    other_user = await new_user(world.rt, world.env, "bob@acme.test")
    bystander = await issue_session(
        world.rt,
        ACTOR,
        world.env,
        user_id=other_user,
        client_id=world.client_id,
        amr=["pwd"],
        auth_time=world.rt.clock.now(),
    )

    await TRIGGERS[trigger](world)

    with pytest.raises(NotAuthenticated):
        await read_session(world.rt, session)
    for token in (jwt_access, opaque_access, refresh_token):
        assert (await introspect(world.rt, token)) == {"active": False}, token
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange(world, refresh_token)
    # Only this user's sessions end.
    assert (await read_session(world.rt, bystander.token)).user_id == other_user


async def test_an_unrelated_change_ends_nothing(world: World) -> None:
    session, jwt_access, opaque_access, refresh_token = await _signed_in(world)
    await _change_email(world)
    await locks.set_lock(world.rt, ACTOR, world.env, world.user.id, closed=False)
    assert (await read_session(world.rt, session)).user_id == world.user.id
    for token in (jwt_access, opaque_access, refresh_token):
        assert (await introspect(world.rt, token))["active"] is True, token
    assert (await exchange(world, refresh_token)).access_token


# -- over HTTP, as an attacker holding a stolen session token would see it ----------------------


@pytest.fixture
def journeys(api: Api) -> Iterator[JourneyClient]:
    with JourneyClient(api.base_url, client_id=f"{api.org}-production") as client:
        yield client


@pytest.mark.parametrize("trigger", [*TRIGGERS, "email"])
def test_a_session_token_stops_working_over_http(
    api: Api, journeys: JourneyClient, trigger: str
) -> None:
    user, _, recovery_codes = enroll_over_http(api, password=PASSWORD)
    assert api.patch_config({"lock": {"enabled": True}}).status_code == 200
    assert api.request("POST", api.user_path(user["id"], "/lock")).status_code == 201
    done = journeys.login(user["email"], PASSWORD, recovery_code=recovery_codes[0])
    assert isinstance(done, Success), done
    assert journeys.session(done.token)["user_id"] == user["id"]

    changes = {
        "disable": ("PATCH", "", {"json": {"status": "disabled"}}),
        "password": ("PATCH", "", {"json": {"password": "a brand new passphrase"}}),
        "admin_reset": ("DELETE", "/totp", {"params": {"reason": "lost phone"}}),
        "lock_close": ("PATCH", "/lock", {"json": {"closed": True}}),
        "email": ("PATCH", "", {"json": {"email": f"new-{user['email']}"}}),
    }
    method, tail, options = changes[trigger]
    changed = api.request(method, api.user_path(user["id"], tail), **options)
    assert changed.status_code in (200, 204), changed.text

    if trigger == "email":
        assert journeys.session(done.token)["user_id"] == user["id"]
        return
    with pytest.raises(ProblemError) as refused:
        journeys.session(done.token)
    assert refused.value.status == 401
    assert refused.value.code == "not_authenticated"
