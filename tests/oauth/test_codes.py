"""Authorization codes: PKCE S256 only, 60 seconds, exactly once; a replay revokes the tokens
issued from the code."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import select

from tests.oauth.support import REDIRECT, World, new_world, pkce
from twostep.clock import FrozenClock
from twostep.oauth.codes import CODE_TTL_S, Authentication, CodeRequest, issue_code, redeem_code
from twostep.oauth.errors import OAuthError
from twostep.oauth.introspection import introspect
from twostep.oauth.tokens import ACR_MFA, ACR_PWD, CodeGrant
from twostep.services.runtime import Runtime
from twostep.storage.tables import audit_events


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await new_world(runtime)


async def test_a_code_is_redeemed_for_what_it_was_issued(world: World, clock: FrozenClock) -> None:
    code, verifier = await world.code(amr=("pwd", "otp"), scope="openid  email openid")
    grant = await world.redeem(code, verifier)
    assert grant.client_id == world.client_id
    assert grant.environment_id == world.env.id
    assert grant.user_id == world.user.id
    assert grant.redirect_uri == REDIRECT
    assert grant.scope == "openid email"
    assert grant.amr == ("pwd", "otp")
    assert grant.acr == ACR_MFA
    assert grant.auth_time == clock.now() - 5
    assert grant.nonce == "n-0S6_WzA2Mj"
    assert grant.family


@pytest.mark.parametrize(
    ("amr", "acr"),
    [(("pwd",), ACR_PWD), (("pwd", "otp"), ACR_MFA), (("pwd", "recovery"), ACR_MFA)],
)
async def test_acr_follows_from_amr(world: World, amr: tuple[str, ...], acr: str) -> None:
    code, verifier = await world.code(amr=amr)
    assert (await world.redeem(code, verifier)).acr == acr


async def test_an_acr_that_amr_does_not_support_is_a_bug(world: World) -> None:
    _, challenge = pkce()
    with pytest.raises(ValueError, match="acr"):
        await issue_code(
            world.rt,
            world.env,
            CodeRequest(world.client_id, REDIRECT, challenge, "S256", None, "openid"),
            Authentication(world.user.id, ["pwd"], 0.0, acr=ACR_MFA),
        )


@pytest.mark.parametrize(
    ("method", "challenge"),
    [
        ("plain", "x" * 43),
        ("", "x" * 43),
        ("S256", "too-short"),
        ("S256", "x" * 44),
        ("S256", "+" * 43),
    ],
)
async def test_only_s256_challenges_are_accepted(world: World, method: str, challenge: str) -> None:
    with pytest.raises(OAuthError) as caught:
        await issue_code(
            world.rt,
            world.env,
            CodeRequest(world.client_id, REDIRECT, challenge, method, None, "openid"),
            Authentication(world.user.id, ["pwd"], 0.0),
        )
    assert caught.value.error == "invalid_request"
    assert caught.value.status == 400


async def test_a_code_works_once(world: World) -> None:
    code, verifier = await world.code()
    await world.redeem(code, verifier)
    with pytest.raises(OAuthError) as caught:
        await world.redeem(code, verifier)
    assert caught.value.error == "invalid_grant"
    assert caught.value.as_dict() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has already been used.",
    }


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_a_replay_revokes_the_tokens_issued_from_the_code(
    world: World, token_format: str
) -> None:
    code, verifier = await world.code()
    tokens = await world.mint(await world.redeem(code, verifier), token_format=token_format)
    assert tokens.refresh_token is not None
    assert (await introspect(world.rt, tokens.access_token))["active"] is True
    assert (await introspect(world.rt, tokens.refresh_token))["active"] is True
    with pytest.raises(OAuthError, match="invalid_grant"):
        await world.redeem(code, verifier)
    assert await introspect(world.rt, tokens.access_token) == {"active": False}
    assert await introspect(world.rt, tokens.refresh_token) == {"active": False}
    async with world.rt.db.transaction() as tx:
        actions = (await tx.execute(select(audit_events.c.action, audit_events.c.outcome))).all()
    assert ("oauth.code_replay", "revoked") in [tuple(a) for a in actions]


async def test_a_replay_even_with_a_wrong_verifier_or_after_expiry_revokes(
    world: World, clock: FrozenClock
) -> None:
    code, verifier = await world.code()
    tokens = await world.mint(await world.redeem(code, verifier))
    clock.advance(CODE_TTL_S + 1)
    with pytest.raises(OAuthError, match="invalid_grant"):
        await world.redeem(code, pkce()[0])
    assert await introspect(world.rt, tokens.access_token) == {"active": False}


async def test_tokens_are_not_minted_for_a_code_replayed_before_minting(world: World) -> None:
    code, verifier = await world.code()
    grant = await world.redeem(code, verifier)
    with pytest.raises(OAuthError):
        await world.redeem(code, verifier)
    with pytest.raises(OAuthError) as caught:
        await world.mint(grant)
    assert caught.value.error == "invalid_grant"


async def test_twenty_concurrent_redemptions_one_wins(world: World) -> None:
    code, verifier = await world.code()
    outcomes = await asyncio.gather(
        *(world.redeem(code, verifier) for _ in range(20)), return_exceptions=True
    )
    wins = [o for o in outcomes if isinstance(o, CodeGrant)]
    losses = [o for o in outcomes if isinstance(o, OAuthError)]
    assert len(wins) == 1
    assert len(losses) == 19
    assert {loss.error for loss in losses} == {"invalid_grant"}
    # The 19 others were replays: the winner's family is revoked, nothing is minted from it.
    with pytest.raises(OAuthError, match="invalid_grant"):
        await world.mint(wins[0])


async def test_a_code_expires_after_60_seconds(world: World, clock: FrozenClock) -> None:
    code, verifier = await world.code()
    clock.advance(CODE_TTL_S - 0.001)
    await world.redeem(code, verifier)
    late, late_verifier = await world.code()
    clock.advance(CODE_TTL_S)
    with pytest.raises(OAuthError) as caught:
        await world.redeem(late, late_verifier)
    assert caught.value.error == "invalid_grant"
    assert "expired" in caught.value.description


async def redeem_with(world: World, arguments: dict[str, str]) -> CodeGrant:
    return await redeem_code(
        world.rt,
        client_id=arguments.get("client_id", world.client_id),
        code=arguments["code"],
        redirect_uri=arguments.get("redirect_uri", REDIRECT),
        code_verifier=arguments["code_verifier"],
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"code_verifier": "wrong-" + "v" * 50},
        {"code_verifier": ""},
        {"code_verifier": "\x00" * 50},
        {"redirect_uri": REDIRECT + "/"},
        {"redirect_uri": REDIRECT.upper()},
        {"client_id": "someone-else"},
        {"code": "not-a-code"},
    ],
)
async def test_a_wrong_verifier_redirect_uri_or_client_is_refused(
    world: World, changes: dict[str, str]
) -> None:
    code, verifier = await world.code()
    with pytest.raises(OAuthError) as caught:
        await redeem_with(world, {"code": code, "code_verifier": verifier, **changes})
    assert caught.value.error == "invalid_grant"
    assert caught.value.status == 400
    # A refused attempt does not spend the code: the rightful client still redeems it.
    grant = await world.redeem(code, verifier)
    assert grant.user_id == world.user.id


async def test_a_code_of_another_client_is_not_found(runtime: Runtime) -> None:
    one = await new_world(runtime, "one", "a@one.test")
    other = await new_world(runtime, "other", "b@other.test")
    code, verifier = await one.code()
    with pytest.raises(OAuthError, match="invalid_grant"):
        await other.redeem(code, verifier)
    await one.redeem(code, verifier)


@pytest.mark.parametrize(
    "changes",
    [
        {"nonce": "a\x00b"},
        {"nonce": "n" * 513},
        {"redirect_uri": "https://app.example.test/\x00"},
        {"scope": "openid\nemail"},
    ],
)
async def test_unstorable_request_values_are_refused(world: World, changes: dict[str, str]) -> None:
    _, challenge = pkce()
    arguments = {"redirect_uri": REDIRECT, "nonce": "n", "scope": "openid", **changes}
    request = CodeRequest(
        world.client_id,
        arguments["redirect_uri"],
        challenge,
        "S256",
        arguments["nonce"],
        arguments["scope"],
    )
    with pytest.raises(OAuthError) as caught:
        await issue_code(world.rt, world.env, request, Authentication(world.user.id, ["pwd"], 0.0))
    assert caught.value.error == "invalid_request"


@pytest.mark.parametrize("junk", ["€", "\ud800", "\x00", "a" * 5000])
async def test_junk_codes_and_verifiers_are_invalid_grants(world: World, junk: str) -> None:
    code, verifier = await world.code()
    for arguments in (
        {"code": junk, "code_verifier": verifier},
        {"code": code, "code_verifier": junk},
    ):
        with pytest.raises(OAuthError, match="invalid_grant"):
            await redeem_with(world, arguments)
    await world.redeem(code, verifier)


async def test_no_tokens_for_a_user_disabled_since_the_code(world: World) -> None:
    code, verifier = await world.code()
    grant = await world.redeem(code, verifier)
    world.user = replace(world.user, status="disabled")
    with pytest.raises(OAuthError, match="invalid_grant"):
        await world.mint(grant)
