"""Minting token sets: access tokens (JWT per RFC 9068, or opaque), ID tokens (OIDC Core 2)
and refresh tokens, whichever grant asked for them.

- **Access tokens** are JWTs (``typ`` ``at+jwt``, signed ES256 by the current key of
  ``keys``; their ``jti`` recorded, so that revoking the family revokes them) or opaque random
  strings stored as their SHA-256, per client setting.
- **ID tokens** when the scope has ``openid``: ``iss, sub, aud, exp, iat, auth_time, nonce,
  amr, acr, at_hash`` and the profile claims the scope allows.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt

from twostep.crypto import new_api_key
from twostep.oauth.families import invalid_grant, live_family, usable_user
from twostep.oauth.keys import ALGORITHM, SigningKey, signing_key_in
from twostep.oauth.tokens import (
    ACCESS_TOKEN_TYPE,
    REFRESH_TOKEN_TTL_S,
    TOKEN_FORMATS,
    Grant,
    TokenSet,
    normalize_scope,
    scopes_of,
    token_hash,
    user_claims,
)
from twostep.services.runtime import Runtime
from twostep.storage import Tx
from twostep.storage.repositories import oauth as repo
from twostep.storage.repositories.applications import ApplicationRecord
from twostep.storage.repositories.oauth import FamilyRecord, TokenRecord
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord
from twostep.storage.tables import new_id

__all__ = ["Mint", "TokenPolicy", "client_credentials_tokens", "mint_in", "mint_tokens"]

_ACCESS_PREFIX: Final = "tsat"
_REFRESH_PREFIX: Final = "tsrt"


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """How an application's tokens are made: who issues them, the access token's lifetime and
    format, and the refresh token's lifetime (None: a code gets no refresh token).

    ``audience`` is the access token's ``aud`` (default: the client); the ID token's is always
    the client.
    """

    issuer: str
    access_ttl: int
    token_format: str = "jwt"  # noqa: S105 - a format name
    refresh_ttl: int | None = REFRESH_TOKEN_TTL_S
    audience: str | None = None

    def __post_init__(self) -> None:
        if self.access_ttl <= 0:
            raise ValueError("access_token_expiration must be positive")
        if self.token_format not in TOKEN_FORMATS:
            raise ValueError(f"token_format must be one of {sorted(TOKEN_FORMATS)}")

    @classmethod
    def of(cls, app: ApplicationRecord, issuer: str) -> TokenPolicy:
        """The policy an application's settings give."""
        refresh = app.refresh_token and "refresh_token" in app.grant_types
        return cls(
            issuer=issuer,
            access_ttl=app.access_token_expiration,
            token_format=app.token_format,
            refresh_ttl=REFRESH_TOKEN_TTL_S if refresh else None,
        )


@dataclass(frozen=True, slots=True)
class Mint:
    """Everything a token set is made of, whichever grant asked for it."""

    environment_id: str
    client_id: str
    user: UserRecord | None
    scope: str
    amr: tuple[str, ...]
    acr: str | None
    auth_time: float | None
    nonce: str | None
    family: str
    policy: TokenPolicy
    # The scope the refresh token keeps (None: no refresh token).
    refresh_scope: str | None
    id_token: bool

    @property
    def audience(self) -> str:
        return self.policy.audience or self.client_id


def _sign(key: SigningKey, claims: dict[str, Any], typ: str) -> str:
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    return jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])


def _at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: base64url of the left half of the SHA-256 of the access token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _record(m: Mint, kind: str, scope: str, now: float, expires_at: float) -> TokenRecord:
    return TokenRecord(
        kind=kind,
        environment_id=m.environment_id,
        client_id=m.client_id,
        user_id=m.user.id if m.user is not None else None,
        scope=scope,
        audience=m.audience,
        family=m.family,
        amr=list(m.amr),
        acr=m.acr,
        auth_time=m.auth_time,
        created_at=now,
        expires_at=expires_at,
    )


async def _access_token(tx: Tx, rt: Runtime, m: Mint, now: float) -> tuple[str, SigningKey | None]:
    """A new access token, recorded; and the signing key, if it took one."""
    iat = int(now)
    exp = iat + m.policy.access_ttl
    if m.policy.token_format != "jwt":  # noqa: S105 - a format name
        access_token = new_api_key(_ACCESS_PREFIX)
        await repo.insert_token(
            tx, token_hash(access_token), _record(m, "access", m.scope, now, exp)
        )
        return access_token, None
    key = await signing_key_in(tx, rt)
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        "iss": m.policy.issuer,
        "sub": m.user.id if m.user is not None else m.client_id,
        "aud": m.audience,
        "exp": exp,
        "iat": iat,
        "jti": jti,
        "client_id": m.client_id,
        "scope": m.scope,
    }
    if m.auth_time is not None:
        claims["auth_time"] = int(m.auth_time)
    if m.user is not None:
        claims["amr"] = list(m.amr)
    if m.acr is not None:
        claims["acr"] = m.acr
    await repo.insert_token(tx, token_hash(jti), _record(m, "jwt", m.scope, now, exp))
    return _sign(key, claims, ACCESS_TOKEN_TYPE), key


def _id_token(m: Mint, user: UserRecord, key: SigningKey, access_token: str, now: float) -> str:
    iat = int(now)
    claims: dict[str, Any] = {
        **user_claims(user, m.scope),
        "iss": m.policy.issuer,
        "sub": user.id,
        "aud": m.client_id,
        "exp": iat + m.policy.access_ttl,
        "iat": iat,
        "amr": list(m.amr),
        "at_hash": _at_hash(access_token),
    }
    if m.auth_time is not None:
        claims["auth_time"] = int(m.auth_time)
    if m.acr is not None:
        claims["acr"] = m.acr
    if m.nonce is not None:
        claims["nonce"] = m.nonce
    return _sign(key, claims, "JWT")


async def mint_in(tx: Tx, rt: Runtime, m: Mint) -> TokenSet:
    """Issue the token set ``m`` describes inside ``tx`` (the family row locked by the caller)."""
    now = rt.clock.now()
    access_token, key = await _access_token(tx, rt, m, now)
    refresh_token = None
    if m.refresh_scope is not None and m.policy.refresh_ttl is not None:
        refresh_token = new_api_key(_REFRESH_PREFIX)
        expires_at = int(now) + m.policy.refresh_ttl
        await repo.insert_token(
            tx, token_hash(refresh_token), _record(m, "refresh", m.refresh_scope, now, expires_at)
        )
    id_token = None
    if m.id_token and m.user is not None and "openid" in scopes_of(m.scope):
        key = key or await signing_key_in(tx, rt)
        id_token = _id_token(m, m.user, key, access_token, now)
    return TokenSet(
        access_token=access_token,
        expires_in=m.policy.access_ttl,
        scope=m.scope,
        refresh_token=refresh_token,
        id_token=id_token,
    )


async def mint_tokens(
    rt: Runtime, env: EnvironmentRecord, grant: Grant, user: UserRecord, policy: TokenPolicy
) -> TokenSet:
    """The tokens of a redeemed code: an access token, an ID token when the scope has
    ``openid``, a refresh token when the policy gives one. invalid_grant if the family was
    revoked meanwhile (the code was replayed between redemption and minting)."""
    if grant.environment_id != env.id or grant.user_id != user.id:
        raise ValueError("the grant belongs to another environment or user")
    if not usable_user(user):
        raise invalid_grant("The user may not sign in.")
    mint = Mint(
        environment_id=env.id,
        client_id=grant.client_id,
        user=user,
        scope=grant.scope,
        amr=grant.amr,
        acr=grant.acr,
        auth_time=grant.auth_time,
        nonce=grant.nonce,
        family=grant.family,
        policy=policy,
        refresh_scope=grant.scope,
        id_token=True,
    )
    async with rt.db.transaction() as tx:
        live = await live_family(tx, grant.family, grant.client_id) is not None
        tokens = await mint_in(tx, rt, mint) if live else None
    if tokens is None:
        raise invalid_grant("The authorization grant has been revoked.")
    return tokens


async def client_credentials_tokens(
    rt: Runtime, env: EnvironmentRecord, client_id: str, scope: str, policy: TokenPolicy
) -> TokenSet:
    """An access token for the client itself (RFC 6749 4.4): ``sub`` is the client id; no
    refresh token, no ID token. Each call starts its own family (so it can be revoked)."""
    now = rt.clock.now()
    family = new_id()
    mint = Mint(
        environment_id=env.id,
        client_id=client_id,
        user=None,
        scope=normalize_scope(scope),
        amr=(),
        acr=None,
        auth_time=None,
        nonce=None,
        family=family,
        policy=policy,
        refresh_scope=None,
        id_token=False,
    )
    async with rt.db.transaction() as tx:
        await repo.insert_family(tx, FamilyRecord(family, env.id, client_id, None, now, None, None))
        return await mint_in(tx, rt, mint)
