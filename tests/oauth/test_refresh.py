"""Refresh tokens rotate; presenting a rotated one again revokes the whole family."""

from __future__ import annotations

import asyncio

import pytest

from tests.oauth.support import ISSUER, World, decode, new_world
from twostep.clock import FrozenClock
from twostep.oauth.errors import OAuthError
from twostep.oauth.introspection import introspect
from twostep.oauth.minting import TokenPolicy
from twostep.oauth.refresh import refresh
from twostep.oauth.tokens import REFRESH_TOKEN_TTL_S, TokenSet
from twostep.services.runtime import Runtime
from twostep.storage.repositories.users import update_user


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await new_world(runtime)


async def exchange(
    world: World, refresh_token: str | None, *, token_format: str = "jwt", scope: str | None = None
) -> TokenSet:
    assert refresh_token is not None
    return await refresh(
        world.rt,
        client_id=world.client_id,
        refresh_token=refresh_token,
        policy=TokenPolicy(ISSUER, 600, token_format),
        scope=scope,
    )


async def test_a_refresh_rotates_the_refresh_token(world: World, clock: FrozenClock) -> None:
    first = await world.login()
    clock.advance(100)
    second = await exchange(world, first.refresh_token)
    assert second.refresh_token is not None
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.scope == first.scope == "openid email profile"
    assert (await introspect(world.rt, first.refresh_token or ""))["active"] is False
    assert (await introspect(world.rt, second.refresh_token))["active"] is True
    # The first access token lives on until it expires: rotation is not revocation.
    assert (await introspect(world.rt, first.access_token))["active"] is True
    third = await exchange(world, second.refresh_token)
    assert (await introspect(world.rt, third.access_token))["active"] is True


async def test_the_refreshed_id_token_keeps_the_original_authentication(
    world: World, clock: FrozenClock
) -> None:
    first = await world.login()
    assert first.id_token is not None
    original = (await decode(world.rt, first.id_token)).claims
    clock.advance(500)
    second = await exchange(world, first.refresh_token)
    assert second.id_token is not None
    claims = (await decode(world.rt, second.id_token)).claims
    assert claims["auth_time"] == original["auth_time"]
    assert claims["amr"] == original["amr"] == ["pwd", "otp"]
    assert claims["acr"] == original["acr"]
    assert claims["sub"] == original["sub"]
    assert claims["aud"] == original["aud"]
    assert claims["iat"] == int(clock.now())
    assert "nonce" in original
    assert "nonce" not in claims


async def test_reuse_of_a_rotated_refresh_token_revokes_the_family(world: World) -> None:
    first = await world.login()
    second = await exchange(world, first.refresh_token)
    other = await world.login()  # another login of the same user: another family
    with pytest.raises(OAuthError) as caught:
        await exchange(world, first.refresh_token)
    assert caught.value.error == "invalid_grant"
    for token in (first.access_token, second.access_token, second.refresh_token or ""):
        assert await introspect(world.rt, token) == {"active": False}
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange(world, second.refresh_token)
    assert (await introspect(world.rt, other.access_token))["active"] is True
    await exchange(world, other.refresh_token)


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_reuse_revokes_access_tokens_of_either_format(
    world: World, token_format: str
) -> None:
    first = await world.login(token_format=token_format)
    second = await exchange(world, first.refresh_token, token_format=token_format)
    with pytest.raises(OAuthError):
        await exchange(world, first.refresh_token, token_format=token_format)
    assert await introspect(world.rt, second.access_token) == {"active": False}


async def test_ten_concurrent_refreshes_one_wins_and_the_family_falls(world: World) -> None:
    first = await world.login()
    outcomes = await asyncio.gather(
        *(exchange(world, first.refresh_token) for _ in range(10)), return_exceptions=True
    )
    wins = [o for o in outcomes if isinstance(o, TokenSet)]
    losses = [o for o in outcomes if isinstance(o, OAuthError)]
    assert len(wins) == 1
    assert len(losses) == 9
    assert {loss.error for loss in losses} == {"invalid_grant"}
    # The others were reuse: nothing of the family is active any more.
    for win in wins:
        assert await introspect(world.rt, win.access_token) == {"active": False}
        assert await introspect(world.rt, win.refresh_token or "") == {"active": False}


async def test_scope_can_narrow_but_not_widen(world: World) -> None:
    first = await world.login()
    narrow = await exchange(world, first.refresh_token, scope="openid")
    assert narrow.scope == "openid"
    assert (await introspect(world.rt, narrow.access_token))["scope"] == "openid"
    # The new refresh token keeps the original grant.
    assert (await introspect(world.rt, narrow.refresh_token or ""))["scope"] == (
        "openid email profile"
    )
    with pytest.raises(OAuthError) as caught:
        await exchange(world, narrow.refresh_token, scope="openid admin")
    assert caught.value.error == "invalid_scope"
    # A refused scope does not spend the refresh token; an empty one means "as granted".
    again = await exchange(world, narrow.refresh_token, scope=" ")
    assert again.scope == "openid email profile"


async def test_a_refresh_token_expires(world: World, clock: FrozenClock) -> None:
    first = await world.login()
    clock.advance(REFRESH_TOKEN_TTL_S)
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange(world, first.refresh_token)


async def test_another_client_cannot_use_the_refresh_token(runtime: Runtime) -> None:
    one = await new_world(runtime, "one", "a@one.test")
    other = await new_world(runtime, "other", "b@other.test")
    tokens = await one.login()
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange(other, tokens.refresh_token)
    await exchange(one, tokens.refresh_token)


async def test_an_access_token_is_not_a_refresh_token(world: World) -> None:
    tokens = await world.login(token_format="opaque")
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange(world, tokens.access_token)


@pytest.mark.parametrize(
    "change", [{"status": "disabled"}, {"lock_closed": True, "lock_paired_at": 1.0}]
)
async def test_a_disabled_or_locked_user_gets_no_more_tokens(
    world: World, change: dict[str, object]
) -> None:
    tokens = await world.login()
    async with world.rt.db.transaction() as tx:
        await update_user(tx, world.env.id, world.user.id, change, world.rt.clock.now())
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange(world, tokens.refresh_token)


async def test_no_refresh_token_unless_asked(world: World) -> None:
    tokens = await world.login(with_refresh=False)
    assert tokens.refresh_token is None
    assert "refresh_token" not in tokens.as_response()
