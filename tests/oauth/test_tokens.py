"""Minting, verifying, introspecting and revoking tokens; what is (not) stored."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import delete, select

from tests.oauth.support import ISSUER, World, decode, new_world
from twostep.clock import FrozenClock
from twostep.oauth import keys
from twostep.oauth.errors import OAuthError
from twostep.oauth.introspection import introspect, revoke, verify_access_token
from twostep.oauth.minting import TokenPolicy, client_credentials_tokens, mint_tokens
from twostep.oauth.purge import purge_expired
from twostep.oauth.refresh import refresh
from twostep.oauth.tokens import ACCESS_TOKEN_TYPE, ACR_MFA, ACR_PWD, TokenSet
from twostep.services.runtime import Runtime
from twostep.storage.repositories.users import delete_user
from twostep.storage.tables import (
    applications,
    oauth_codes,
    oauth_families,
    oauth_tokens,
    signing_keys,
)


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await new_world(runtime)


async def machine_token(world: World, *, token_format: str = "jwt", scope: str = "") -> TokenSet:
    policy = TokenPolicy(ISSUER, 300, token_format)
    return await client_credentials_tokens(world.rt, world.env, world.client_id, scope, policy)


# --- JWT claims -------------------------------------------------------------------------------


async def test_a_jwt_access_token_carries_rfc_9068_claims(world: World, clock: FrozenClock) -> None:
    tokens = await world.login()
    assert tokens.token_type == "Bearer"
    assert tokens.expires_in == 600
    decoded = await decode(world.rt, tokens.access_token)
    assert decoded.header == {
        "alg": "ES256",
        "kid": (await keys.current_signing_key(world.rt)).kid,
        "typ": ACCESS_TOKEN_TYPE,
    }
    claims = decoded.claims
    now = int(clock.now())
    assert claims["iss"] == ISSUER
    assert claims["sub"] == world.user.id
    assert claims["aud"] == world.client_id
    assert claims["client_id"] == world.client_id
    assert claims["iat"] == now
    assert claims["exp"] == now + 600
    assert claims["auth_time"] == now - 5
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["acr"] == ACR_MFA
    assert claims["scope"] == "openid email profile"
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 20


async def test_the_id_token_carries_the_oidc_claims(world: World, clock: FrozenClock) -> None:
    tokens = await world.login(amr=("pwd",))
    assert tokens.id_token is not None
    decoded = await decode(world.rt, tokens.id_token)
    assert decoded.header["typ"] == "JWT"
    claims = decoded.claims
    now = int(clock.now())
    assert claims["iss"] == ISSUER
    assert claims["sub"] == world.user.id
    assert claims["aud"] == world.client_id
    assert claims["iat"] == now
    assert claims["exp"] == now + 600
    assert claims["auth_time"] == now - 5
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == ACR_PWD
    assert claims["email"] == "ann@acme.test"
    assert claims["preferred_username"] == "ann@acme.test"
    digest = hashlib.sha256(tokens.access_token.encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


async def test_the_id_token_only_tells_what_the_scope_allows(world: World) -> None:
    code, verifier = await world.code(scope="openid", nonce=None)
    tokens = await world.mint(await world.redeem(code, verifier))
    assert tokens.id_token is not None
    claims = (await decode(world.rt, tokens.id_token)).claims
    assert "email" not in claims
    assert "preferred_username" not in claims
    assert "nonce" not in claims


async def test_no_id_token_without_openid(world: World) -> None:
    tokens = await world.login(scope="email")
    assert tokens.id_token is None
    assert "id_token" not in tokens.as_response()


async def test_the_response_body(world: World) -> None:
    tokens = await world.login()
    body = tokens.as_response()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "refresh_token",
        "id_token",
    }
    assert tokens.access_token not in repr(tokens)
    assert (tokens.refresh_token or "") not in repr(tokens)


async def test_the_access_token_audience_can_be_a_resource_server(world: World) -> None:
    code, verifier = await world.code()
    grant = await world.redeem(code, verifier)
    policy = TokenPolicy(ISSUER, 60, "jwt", None, audience="https://api.example.test")
    tokens = await mint_tokens(world.rt, world.env, grant, world.user, policy)
    assert (await decode(world.rt, tokens.access_token)).claims["aud"] == (
        "https://api.example.test"
    )
    assert tokens.id_token is not None
    assert (await decode(world.rt, tokens.id_token)).claims["aud"] == world.client_id
    assert (await introspect(world.rt, tokens.access_token))["aud"] == "https://api.example.test"


# --- verifying (userinfo) ---------------------------------------------------------------------


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_verify_access_token(world: World, clock: FrozenClock, token_format: str) -> None:
    tokens = await world.login(token_format=token_format)
    claims = await verify_access_token(world.rt, tokens.access_token)
    assert claims.subject == claims.user_id == world.user.id
    assert claims.client_id == world.client_id
    assert claims.environment_id == world.env.id
    assert claims.scopes == {"openid", "email", "profile"}
    assert claims.amr == ("pwd", "otp")
    assert claims.acr == ACR_MFA
    assert claims.auth_time == clock.now() - 5
    assert claims.expires_at == int(clock.now()) + 600
    if token_format == "jwt":
        assert claims.issuer == ISSUER
        assert claims.jti is not None
    else:
        assert tokens.access_token.startswith("tsat_")
        assert tokens.access_token.count(".") == 0
    clock.advance(600)
    with pytest.raises(OAuthError) as caught:
        await verify_access_token(world.rt, tokens.access_token)
    assert caught.value.error == "invalid_token"
    assert caught.value.status == 401


async def test_an_id_token_or_refresh_token_is_no_access_token(world: World) -> None:
    tokens = await world.login()
    for token in (tokens.id_token or "", tokens.refresh_token or "", "", "a.b.c", "junk"):
        with pytest.raises(OAuthError, match="invalid_token"):
            await verify_access_token(world.rt, token)


async def test_a_jwt_with_a_bad_signature_is_refused(runtime: Runtime, world: World) -> None:
    tokens = await world.login()
    header, payload, _ = tokens.access_token.split(".")
    forged = f"{header}.{payload}.{'A' * 86}"
    with pytest.raises(OAuthError, match="invalid_token"):
        await verify_access_token(runtime, forged)
    assert await introspect(runtime, forged) == {"active": False}


async def test_a_raw_jti_is_not_a_token(world: World) -> None:
    tokens = await world.login()
    jti = (await decode(world.rt, tokens.access_token)).claims["jti"]
    assert await introspect(world.rt, jti) == {"active": False}
    with pytest.raises(OAuthError):
        await verify_access_token(world.rt, jti)
    await revoke(world.rt, world.client_id, jti)
    assert (await introspect(world.rt, tokens.access_token))["active"] is True


# --- client credentials -----------------------------------------------------------------------


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_client_credentials(world: World, clock: FrozenClock, token_format: str) -> None:
    tokens = await machine_token(world, token_format=token_format, scope="openid reports:read")
    assert tokens.refresh_token is None
    assert tokens.id_token is None
    assert tokens.expires_in == 300
    claims = await verify_access_token(world.rt, tokens.access_token)
    assert claims.subject == world.client_id
    assert claims.user_id is None
    assert claims.amr == ()
    assert claims.acr is None
    assert claims.auth_time is None
    answer = await introspect(world.rt, tokens.access_token)
    assert answer["active"] is True
    assert answer["sub"] == world.client_id
    assert answer["scope"] == "openid reports:read"
    assert "amr" not in answer
    assert "acr" not in answer
    if token_format == "jwt":
        jwt_claims = (await decode(world.rt, tokens.access_token)).claims
        assert jwt_claims["sub"] == world.client_id
        assert "amr" not in jwt_claims
        assert "auth_time" not in jwt_claims
    clock.advance(300)
    assert await introspect(world.rt, tokens.access_token) == {"active": False}


# --- introspection ----------------------------------------------------------------------------


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_introspect_an_access_token(
    world: World, clock: FrozenClock, token_format: str
) -> None:
    tokens = await world.login(token_format=token_format)
    answer = await introspect(world.rt, tokens.access_token)
    now = int(clock.now())
    expected = {
        "active": True,
        "scope": "openid email profile",
        "client_id": world.client_id,
        "token_type": "Bearer",
        "exp": now + 600,
        "iat": now,
        "sub": world.user.id,
        "aud": world.client_id,
        "amr": ["pwd", "otp"],
        "auth_time": now - 5,
        "acr": ACR_MFA,
    }
    if token_format == "jwt":
        expected["iss"] = ISSUER
        expected["jti"] = (await decode(world.rt, tokens.access_token)).claims["jti"]
    assert answer == expected
    clock.advance(599)
    assert (await introspect(world.rt, tokens.access_token))["active"] is True
    clock.advance(1)
    assert await introspect(world.rt, tokens.access_token) == {"active": False}


async def test_introspect_a_refresh_token(world: World) -> None:
    tokens = await world.login()
    answer = await introspect(world.rt, tokens.refresh_token or "")
    assert answer["active"] is True
    assert answer["token_type"] == "refresh_token"
    assert answer["client_id"] == world.client_id


@pytest.mark.parametrize("token", ["", "nope", "tsat_unknown", "x.y.z", "..", "€"])
async def test_introspect_unknown_tokens(world: World, token: str) -> None:
    await world.login()
    assert await introspect(world.rt, token) == {"active": False}


async def test_introspect_before_any_key_exists(runtime: Runtime) -> None:
    assert await introspect(runtime, "eyJhbGciOiJFUzI1NiJ9.e30.AAAA") == {"active": False}


async def test_introspection_can_be_limited_to_an_environment(runtime: Runtime) -> None:
    one = await new_world(runtime, "one", "a@one.test")
    other = await new_world(runtime, "other", "b@other.test")
    for token_format in ("jwt", "opaque"):
        tokens = await one.login(token_format=token_format)
        assert (await introspect(runtime, tokens.access_token, environment_id=one.env.id))["active"]
        assert await introspect(runtime, tokens.access_token, environment_id=other.env.id) == {
            "active": False
        }


# --- revocation -------------------------------------------------------------------------------


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_revoking_a_refresh_token_revokes_its_family(world: World, token_format: str) -> None:
    tokens = await world.login(token_format=token_format)
    other = await world.login(token_format=token_format)
    await revoke(world.rt, world.client_id, tokens.refresh_token or "")
    assert await introspect(world.rt, tokens.access_token) == {"active": False}
    assert await introspect(world.rt, tokens.refresh_token or "") == {"active": False}
    with pytest.raises(OAuthError, match="invalid_grant"):
        await refresh(
            world.rt,
            client_id=world.client_id,
            refresh_token=tokens.refresh_token or "",
            policy=TokenPolicy(ISSUER, 60, token_format),
        )
    assert (await introspect(world.rt, other.access_token))["active"] is True


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_revoking_an_access_token_revokes_it_alone(world: World, token_format: str) -> None:
    tokens = await world.login(token_format=token_format)
    await revoke(world.rt, world.client_id, tokens.access_token)
    assert await introspect(world.rt, tokens.access_token) == {"active": False}
    with pytest.raises(OAuthError, match="invalid_token"):
        await verify_access_token(world.rt, tokens.access_token)
    assert (await introspect(world.rt, tokens.refresh_token or ""))["active"] is True
    await revoke(world.rt, world.client_id, tokens.access_token)  # again: still fine


async def test_revoking_unknown_or_foreign_tokens_is_a_no_op(runtime: Runtime) -> None:
    one = await new_world(runtime, "one", "a@one.test")
    other = await new_world(runtime, "other", "b@other.test")
    tokens = await one.login()
    for token in ("", "unknown", "a.b.c", tokens.id_token or ""):
        await revoke(runtime, one.client_id, token)
    for token in (tokens.access_token, tokens.refresh_token or ""):
        await revoke(runtime, other.client_id, token)
        assert (await introspect(runtime, token))["active"] is True


async def test_revoking_a_machine_token(world: World) -> None:
    tokens = await machine_token(world)
    await revoke(world.rt, world.client_id, tokens.access_token, token_type_hint="access_token")
    assert await introspect(world.rt, tokens.access_token) == {"active": False}


# --- storage ----------------------------------------------------------------------------------


async def all_rows(rt: Runtime) -> str:
    text = []
    async with rt.db.transaction() as tx:
        for table in (oauth_codes, oauth_tokens, oauth_families, signing_keys):
            text += [repr(tuple(row)) for row in await tx.execute(select(table))]
    return "\n".join(text)


async def test_no_code_token_or_private_key_is_stored_in_the_clear(world: World) -> None:
    code, verifier = await world.code()
    code_rows = await all_rows(world.rt)
    grant = await world.redeem(code, verifier)
    jwt_tokens = await world.mint(grant)
    opaque_tokens = await world.login(token_format="opaque")
    machine = await machine_token(world, token_format="opaque")
    stored = code_rows + "\n" + await all_rows(world.rt)
    secrets = [
        code,
        verifier,
        jwt_tokens.access_token,
        jwt_tokens.refresh_token,
        jwt_tokens.id_token,
        opaque_tokens.access_token,
        opaque_tokens.refresh_token,
        machine.access_token,
        (await keys.current_signing_key(world.rt)).key.as_dict(private=True)["d"],
    ]
    for secret in secrets:
        assert isinstance(secret, str)
        assert secret not in stored
        # Nor any large piece of one (the signature part of a JWT, say).
        assert secret[-20:] not in stored
    # What is stored is the SHA-256 of each.
    for secret in (code, opaque_tokens.access_token, opaque_tokens.refresh_token or ""):
        assert hashlib.sha256(secret.encode()).hexdigest() in stored


async def test_deleting_the_user_or_the_application_ends_their_tokens(runtime: Runtime) -> None:
    world = await new_world(runtime)
    for token_format in ("jwt", "opaque"):
        tokens = await world.login(token_format=token_format)
        machine = await machine_token(world, token_format=token_format)
        async with runtime.db.transaction() as tx:
            await delete_user(tx, world.env.id, world.user.id)
        assert await introspect(runtime, tokens.access_token) == {"active": False}
        assert await introspect(runtime, tokens.refresh_token or "") == {"active": False}
        assert (await introspect(runtime, machine.access_token))["active"] is True
        async with runtime.db.transaction() as tx:
            await tx.execute(
                delete(applications).where(applications.c.client_id == world.client_id)
            )
        assert await introspect(runtime, machine.access_token) == {"active": False}
        world = await new_world(runtime, f"again-{token_format}", "c@again.test")


async def test_purge_expired(world: World, clock: FrozenClock) -> None:
    await world.code()  # never redeemed
    await world.login()
    await keys.rotate_signing_keys(world.rt, publish_for_s=600)
    live = await world.login()
    assert await purge_expired(world.rt) == 0
    clock.advance(3 * 24 * 3600)  # codes, access tokens over a day ago; refresh tokens live
    purged = await purge_expired(world.rt)
    assert purged > 0
    async with world.rt.db.transaction() as tx:
        assert (await tx.execute(select(oauth_codes))).all() == []
        kinds = sorted(r.kind for r in await tx.execute(select(oauth_tokens.c.kind)))
        assert kinds == ["refresh", "refresh"]
        assert len((await tx.execute(select(signing_keys))).all()) == 1
    assert (await introspect(world.rt, live.refresh_token or ""))["active"] is True
    clock.advance(31 * 24 * 3600)
    await purge_expired(world.rt)
    async with world.rt.db.transaction() as tx:
        for table in (oauth_codes, oauth_tokens, oauth_families):
            assert (await tx.execute(select(table))).all() == []


@pytest.mark.parametrize("junk", ["€", "\ud800", "\x00", "\ud800.\ud800.\ud800", "a.\x00.b"])
async def test_junk_tokens_are_inactive_never_errors(world: World, junk: str) -> None:
    tokens = await world.login()
    assert await introspect(world.rt, junk) == {"active": False}
    with pytest.raises(OAuthError, match="invalid_token"):
        await verify_access_token(world.rt, junk)
    await revoke(world.rt, world.client_id, junk)
    with pytest.raises(OAuthError, match="invalid_grant"):
        await refresh(
            world.rt,
            client_id=world.client_id,
            refresh_token=junk,
            policy=TokenPolicy(ISSUER, 60, "jwt"),
        )
    assert (await introspect(world.rt, tokens.access_token))["active"] is True
