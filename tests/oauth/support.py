"""Shared set-up for the OAuth tests: an environment, a client, a user, and a code flow."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, cast

from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization

from tests.services.support import add_application, new_environment, new_user
from twostep.oauth import keys
from twostep.oauth.codes import Authentication, CodeRequest, issue_code, redeem_code
from twostep.oauth.minting import TokenPolicy, mint_tokens
from twostep.oauth.tokens import REFRESH_TOKEN_TTL_S, CodeGrant, TokenSet
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord, get_user

ISSUER = "https://auth.example.test"
CLIENT = "webapp"
REDIRECT = "https://app.example.test/callback"


def pkce() -> tuple[str, str]:
    """A fresh (verifier, S256 challenge) pair, computed independently of the server."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class World:
    rt: Runtime
    env: EnvironmentRecord
    client_id: str
    user: UserRecord

    async def code(
        self,
        *,
        amr: tuple[str, ...] = ("pwd", "otp"),
        scope: str = "openid email profile",
        nonce: str | None = "n-0S6_WzA2Mj",
        client_id: str | None = None,
    ) -> tuple[str, str]:
        """A fresh authorization code and its verifier."""
        verifier, challenge = pkce()
        request = CodeRequest(
            client_id=client_id or self.client_id,
            redirect_uri=REDIRECT,
            code_challenge=challenge,
            code_challenge_method="S256",
            nonce=nonce,
            scope=scope,
        )
        signed_in = Authentication(self.user.id, amr, self.rt.clock.now() - 5)
        code = await issue_code(self.rt, self.env, request, signed_in)
        return code, verifier

    async def redeem(self, code: str, verifier: str) -> CodeGrant:
        return await redeem_code(
            self.rt,
            client_id=self.client_id,
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        )

    async def mint(
        self,
        grant: CodeGrant,
        *,
        token_format: str = "jwt",
        with_refresh: bool = True,
        access_token_expiration: int = 600,
    ) -> TokenSet:
        policy = TokenPolicy(
            ISSUER,
            access_token_expiration,
            token_format,
            REFRESH_TOKEN_TTL_S if with_refresh else None,
        )
        return await mint_tokens(self.rt, self.env, grant, self.user, policy)

    async def login(self, **options: Any) -> TokenSet:
        """The whole code flow: a code, its redemption, the tokens."""
        scope = options.pop("scope", "openid email profile")
        amr = options.pop("amr", ("pwd", "otp"))
        code, verifier = await self.code(scope=scope, amr=amr)
        return await self.mint(await self.redeem(code, verifier), **options)


async def new_world(rt: Runtime, domain: str = "acme", email: str = "ann@acme.test") -> World:
    env = await new_environment(rt, domain)
    client_id = await add_application(rt, env, f"{domain}-{CLIENT}")
    user_id = await new_user(rt, env, email)
    async with rt.db.transaction() as tx:
        user = await get_user(tx, env.id, user_id)
    assert user is not None
    return World(rt, env, client_id, user)


async def decode(rt: Runtime, token: str) -> jwt.Token:
    """Verify a JWT the way a client would: against the published JWK Set only."""
    published = KeySet.import_key_set(cast(KeySetSerialization, await keys.jwks(rt)))
    return jwt.decode(token, published, algorithms=["ES256"])
