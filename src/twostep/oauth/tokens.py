"""Authorization codes, tokens, and their lifecycle: the core the ``/oauth/*`` endpoints call.

The grants are ours and thin (design section 3), JOSE is joserfc's. The endpoints authenticate
the client, check its settings (grant types, redirect URIs, scopes) and pass them in; this
module settles everything that must be exactly once, in SQL:

- **Codes** (RFC 6749 4.1, RFC 7636) carry 256 random bits, are stored as their SHA-256 and
  live ``CODE_TTL_S`` (60 s). Redeeming one claims it with a conditional UPDATE, so of N
  concurrent redemptions one wins; any other redemption of a claimed code is a replay, and
  revokes every token issued from it (RFC 6749 10.5). Only PKCE ``S256`` is accepted.
- **Families**: the code and every token issued from it, or from its refresh tokens, share a
  family id. Revoking the family revokes them all, JWT access tokens included (their ``jti``
  is recorded). A mint locks the family row, a revocation updates it first: a token is never
  minted into a family being revoked, whatever the interleaving.
- **Refresh tokens** rotate: each exchange marks the presented token rotated (conditional
  UPDATE) and issues a new one in the same family; presenting a rotated token again is reuse,
  and revokes the family (OAuth 2.0 Security BCP 4.14).
- **Access tokens** are JWTs (RFC 9068: ``typ`` ``at+jwt``, signed ES256 by the current key
  of ``keys``) or opaque random strings stored as their SHA-256, per client setting.
- **ID tokens** (OIDC Core 2) when the scope has ``openid``: ``iss, sub, aud, exp, iat,
  auth_time, nonce, amr, acr, at_hash`` and the profile claims the scope allows.

``acr`` takes one of two values, fixed by the methods in ``amr`` (RFC 8176 values):

- ``urn:twostep:acr:mfa`` (``ACR_MFA``): a second factor was used: ``amr`` has ``otp`` (a
  TOTP code) or ``recovery`` (a recovery code);
- ``urn:twostep:acr:pwd`` (``ACR_PWD``): the password alone.

Every time comes from ``rt.clock``. A failure raises ``OAuthError`` after the transaction has
committed what the failure must leave behind (a revoked family), never before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError

from twostep.crypto import hash_api_key, new_api_key
from twostep.oauth.errors import OAuthError
from twostep.oauth.keys import ALGORITHM, SigningKey, signing_key_in, verification_keys_in
from twostep.services.audit import audit
from twostep.services.factors import proves_second_factor
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import oauth as repo
from twostep.storage.repositories.oauth import CodeRecord, FamilyRecord, TokenRecord
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord, get_user
from twostep.storage.tables import new_id

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ACR_MFA",
    "ACR_PWD",
    "CODE_CHALLENGE",
    "CODE_TTL_S",
    "REFRESH_TOKEN_TTL_S",
    "AccessClaims",
    "CodeGrant",
    "Grant",
    "TokenSet",
    "acr_for",
    "client_credentials_tokens",
    "introspect",
    "issue_code",
    "mint_tokens",
    "normalize_scope",
    "purge_expired",
    "redeem_code",
    "refresh",
    "revoke",
    "user_claims",
    "verify_access_token",
]

CODE_TTL_S: Final = 60
REFRESH_TOKEN_TTL_S: Final = 30 * 24 * 3600
ACR_PWD: Final = "urn:twostep:acr:pwd"  # noqa: S105 - an acr value, not a password
ACR_MFA: Final = "urn:twostep:acr:mfa"
#: The JWS ``typ`` of JWT access tokens (RFC 9068); ID tokens are ``JWT``, so an ID token
#: is never taken for an access token.
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a JWS typ value
TOKEN_FORMATS: Final = frozenset({"jwt", "opaque"})

MAX_NONCE: Final = 512
MAX_REDIRECT_URI: Final = 2000
MAX_SCOPE: Final = 1000

_ACCESS_PREFIX: Final = "tsat"
_REFRESH_PREFIX: Final = "tsrt"
# RFC 7636 4.1 and 4.2: the verifier is 43-128 unreserved characters; an S256 challenge is
# the unpadded base64url of a SHA-256 digest, so exactly 43 of them (of the 43-128 unreserved
# characters spec 3b.5 allows, the only ones any verifier can match). /oauth/authorize checks
# it already, so that a sign-in never ends in a code that cannot be issued.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
CODE_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_\-]{43}")


def acr_for(amr: Iterable[str]) -> str:
    """``ACR_MFA`` when ``amr`` has a second factor (``otp`` or ``recovery``), else ``ACR_PWD``."""
    return ACR_MFA if proves_second_factor(amr) else ACR_PWD


def normalize_scope(scope: str | Iterable[str]) -> str:
    """The scope as RFC 6749 3.3 writes it: space-separated, each value once, order kept."""
    values = scope.split() if isinstance(scope, str) else list(scope)
    return " ".join(dict.fromkeys(values))


def _scopes(scope: str) -> list[str]:
    return scope.split()


def _hash(text: str) -> str:
    """The SHA-256 hex a code or token is stored by. Ours are ASCII: anything else (a lone
    surrogate even) gets a value no row has, rather than an encoding error."""
    return hash_api_key(text) if text.isascii() else "-"


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6: base64url of the left half of the SHA-256 of the access token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def _invalid_token() -> OAuthError:
    return OAuthError("invalid_token", "The access token is not valid.")


# --- what the endpoints get back --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grant:
    """What an authentication of a user granted a client: the basis of the tokens minted."""

    environment_id: str
    client_id: str
    user_id: str
    scope: str
    amr: tuple[str, ...]
    acr: str
    auth_time: float
    nonce: str | None
    family: str


@dataclass(frozen=True, slots=True)
class CodeGrant(Grant):
    """A redeemed authorization code."""

    redirect_uri: str


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token response (RFC 6749 5.1, OIDC Core 3.1.3.3)."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 token type
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)

    def as_response(self) -> dict[str, Any]:
        """The JSON body of the token endpoint (absent members left out)."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token (JWT or opaque) stands for: what ``/oauth/userinfo`` needs."""

    subject: str
    client_id: str
    environment_id: str
    user_id: str | None
    scope: str
    audience: str
    amr: tuple[str, ...]
    acr: str | None
    auth_time: float | None
    issued_at: float
    expires_at: float
    family: str
    # JWT access tokens only.
    jti: str | None = None
    issuer: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(_scopes(self.scope))


def user_claims(user: UserRecord, scope: str) -> dict[str, Any]:
    """The user's claims the scope allows (OIDC Core 5.4): ``sub`` always, ``email`` with
    ``email``, ``preferred_username`` with ``profile``, ``phone_number`` with ``phone``.
    For the ID token and for ``/oauth/userinfo``."""
    scopes = set(_scopes(scope))
    claims: dict[str, Any] = {"sub": user.id}
    if "email" in scopes and user.email:
        claims["email"] = user.email
    if "profile" in scopes and (user.username or user.email):
        claims["preferred_username"] = user.username or user.email
    if "phone" in scopes and user.phone:
        claims["phone_number"] = user.phone
    return claims


# --- authorization codes ----------------------------------------------------------------------


async def issue_code(
    rt: Runtime,
    *,
    env: EnvironmentRecord,
    client_id: str,
    user_id: str,
    redirect_uri: str,
    code_challenge: str,
    code_challenge_method: str,
    nonce: str | None,
    scope: str,
    amr: Sequence[str],
    acr: str | None = None,
    auth_time: float,
) -> str:
    """A new authorization code for the user's authentication (a new token family).

    Only PKCE ``S256`` is accepted (``plain`` is refused: invalid_request). ``acr`` defaults to
    ``acr_for(amr)``; another value than that is a programming error.
    """
    if code_challenge_method != "S256":
        raise OAuthError("invalid_request", "PKCE with code_challenge_method S256 is required.")
    if not CODE_CHALLENGE.fullmatch(code_challenge):
        raise OAuthError("invalid_request", "The code_challenge is not a valid S256 challenge.")
    if nonce is not None and not _storable(nonce, MAX_NONCE):
        raise OAuthError("invalid_request", "The nonce is too long or has control characters.")
    if not _storable(redirect_uri, MAX_REDIRECT_URI) or not _storable(scope, MAX_SCOPE):
        raise OAuthError("invalid_request", "The redirect_uri or scope is not valid.")
    expected_acr = acr_for(amr)
    if acr is not None and acr != expected_acr:
        raise ValueError(f"acr {acr!r} does not follow from amr {list(amr)!r}")
    code = secrets.token_urlsafe(32)
    now = rt.clock.now()
    family = new_id()
    async with rt.db.transaction() as tx:
        await repo.insert_family(
            tx, FamilyRecord(family, env.id, client_id, user_id, now, None, None)
        )
        await repo.insert_code(
            tx,
            _hash(code),
            CodeRecord(
                environment_id=env.id,
                client_id=client_id,
                user_id=user_id,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method,
                nonce=nonce,
                scope=normalize_scope(scope),
                amr=list(amr),
                acr=expected_acr,
                auth_time=auth_time,
                created_at=now,
                expires_at=now + CODE_TTL_S,
                used_at=None,
                family=family,
            ),
        )
    return code


def _storable(text: str, limit: int) -> bool:
    """Text fit to store: bounded, and without control characters (PostgreSQL refuses NUL)."""
    return len(text) <= limit and text.isprintable()


def _pkce_matches(verifier: str, challenge: str) -> bool:
    if not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(_s256(verifier), challenge)


async def _revoke_family(
    tx: Tx,
    rt: Runtime,
    actor: Actor,
    *,
    family: str,
    environment_id: str,
    user_id: str | None,
    client_id: str,
    reason: str,
) -> None:
    revoked = await repo.revoke_family(tx, family, now=rt.clock.now(), reason=reason)
    await audit(
        tx,
        rt,
        actor,
        f"oauth.{reason}",
        "revoked",
        environment_id=environment_id,
        user_id=user_id,
        details={"client_id": client_id, "family": family, "tokens_revoked": revoked},
    )


async def redeem_code(
    rt: Runtime,
    *,
    client_id: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    actor: Actor | None = None,
) -> CodeGrant:
    """Exchange a code once (RFC 6749 4.1.3, RFC 7636 4.6); invalid_grant otherwise.

    The code must have been issued to ``client_id``, for exactly ``redirect_uri``, be unused
    and younger than 60 s, and ``code_verifier`` must hash to its challenge. A code already
    redeemed (a replay, or the loser of a race) revokes every token of its family.
    """
    actor = actor or Actor(f"client:{client_id}")
    code_hash = _hash(code)
    failure: OAuthError | None = None
    async with rt.db.transaction() as tx:
        now = rt.clock.now()
        record = await repo.find_code(tx, code_hash)
        if record is None or record.client_id != client_id:
            failure = _invalid_grant("The authorization code is not valid.")
        elif record.used_at is not None:
            failure = _invalid_grant("The authorization code has already been used.")
        elif record.expires_at <= now:
            failure = _invalid_grant("The authorization code has expired.")
        elif redirect_uri != record.redirect_uri:
            failure = _invalid_grant("The redirect_uri does not match the authorization request.")
        elif record.code_challenge_method != "S256" or not _pkce_matches(
            code_verifier, record.code_challenge
        ):
            failure = _invalid_grant("The code_verifier does not match the code_challenge.")
        elif not await repo.claim_code(tx, code_hash, now):
            # Claimed by a concurrent redemption between the read and the claim: a replay too.
            failure = _invalid_grant("The authorization code has already been used.")
            record = await repo.find_code(tx, code_hash)
        if record is not None and record.client_id == client_id and record.used_at is not None:
            await _revoke_family(
                tx,
                rt,
                actor,
                family=record.family,
                environment_id=record.environment_id,
                user_id=record.user_id,
                client_id=client_id,
                reason="code_replay",
            )
    if failure is not None:
        raise failure
    assert record is not None
    return CodeGrant(
        environment_id=record.environment_id,
        client_id=record.client_id,
        user_id=record.user_id,
        scope=record.scope,
        amr=tuple(record.amr),
        acr=record.acr,
        auth_time=record.auth_time,
        nonce=record.nonce,
        family=record.family,
        redirect_uri=record.redirect_uri,
    )


# --- minting ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mint:
    """Everything a token set is made of, whichever grant asked for it."""

    environment_id: str
    client_id: str
    audience: str
    user: UserRecord | None
    scope: str
    amr: tuple[str, ...]
    acr: str | None
    auth_time: float | None
    nonce: str | None
    family: str
    issuer: str
    access_ttl: int
    token_format: str
    refresh_ttl: int | None
    refresh_scope: str
    id_token: bool


def _check_lifetime(access_token_expiration: int, token_format: str) -> None:
    if access_token_expiration <= 0:
        raise ValueError("access_token_expiration must be positive")
    if token_format not in TOKEN_FORMATS:
        raise ValueError(f"token_format must be one of {sorted(TOKEN_FORMATS)}")


def _sign(key: SigningKey, claims: dict[str, Any], typ: str) -> str:
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    return jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])


async def _mint_in(tx: Tx, rt: Runtime, m: _Mint) -> TokenSet:
    """Issue the token set ``m`` describes inside ``tx`` (the family row locked by the caller)."""
    now = rt.clock.now()
    iat = int(now)
    exp = iat + m.access_ttl
    subject = m.user.id if m.user is not None else m.client_id
    user_id = m.user.id if m.user is not None else None
    key: SigningKey | None = None

    def record(kind: str, scope: str, expires_at: float) -> TokenRecord:
        return TokenRecord(
            kind=kind,
            environment_id=m.environment_id,
            client_id=m.client_id,
            user_id=user_id,
            scope=scope,
            audience=m.audience,
            family=m.family,
            amr=list(m.amr),
            acr=m.acr,
            auth_time=m.auth_time,
            created_at=now,
            expires_at=expires_at,
        )

    if m.token_format == "jwt":  # noqa: S105 - a format name
        key = await signing_key_in(tx, rt)
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": m.issuer,
            "sub": subject,
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
        access_token = _sign(key, claims, ACCESS_TOKEN_TYPE)
        await repo.insert_token(tx, _hash(jti), record("jwt", m.scope, exp))
    else:
        access_token = new_api_key(_ACCESS_PREFIX)
        await repo.insert_token(tx, _hash(access_token), record("access", m.scope, exp))

    refresh_token = None
    if m.refresh_ttl is not None:
        refresh_token = new_api_key(_REFRESH_PREFIX)
        await repo.insert_token(
            tx, _hash(refresh_token), record("refresh", m.refresh_scope, iat + m.refresh_ttl)
        )

    id_token = None
    if m.id_token and m.user is not None and "openid" in _scopes(m.scope):
        key = key or await signing_key_in(tx, rt)
        id_claims: dict[str, Any] = {
            **user_claims(m.user, m.scope),
            "iss": m.issuer,
            "sub": m.user.id,
            "aud": m.client_id,
            "exp": exp,
            "iat": iat,
            "amr": list(m.amr),
            "at_hash": _at_hash(access_token),
        }
        if m.auth_time is not None:
            id_claims["auth_time"] = int(m.auth_time)
        if m.acr is not None:
            id_claims["acr"] = m.acr
        if m.nonce is not None:
            id_claims["nonce"] = m.nonce
        id_token = _sign(key, id_claims, "JWT")

    return TokenSet(
        access_token=access_token,
        expires_in=m.access_ttl,
        scope=m.scope,
        refresh_token=refresh_token,
        id_token=id_token,
    )


def _usable_user(user: UserRecord | None) -> bool:
    """Whether tokens may still be issued to this user: it exists, is active, lock open."""
    return user is not None and user.may_sign_in


async def _live_family(tx: Tx, family: str, client_id: str) -> FamilyRecord | None:
    """The family locked for minting, or None if it is gone or revoked."""
    record = await repo.lock_family(tx, family)
    if record is None or record.revoked_at is not None:
        return None
    if record.client_id != client_id:
        raise ValueError("the token family belongs to another client")
    return record


async def mint_tokens(
    rt: Runtime,
    *,
    env: EnvironmentRecord,
    client_id: str,
    audience: str | None = None,
    user: UserRecord,
    grant: Grant,
    access_token_expiration: int,
    token_format: str,
    with_refresh: bool,
    family: str | None = None,
    issuer: str,
    refresh_token_expiration: int = REFRESH_TOKEN_TTL_S,
) -> TokenSet:
    """The tokens of a redeemed code: an access token (``token_format`` ``jwt`` or
    ``opaque``, living ``access_token_expiration`` s), an ID token when the scope has
    ``openid``, a refresh token when ``with_refresh``.

    ``audience`` is the access token's ``aud`` (default: the client); the ID token's is always
    the client. ``family`` defaults to the grant's. invalid_grant if the family was revoked
    meanwhile (the code was replayed between redemption and minting).
    """
    _check_lifetime(access_token_expiration, token_format)
    if grant.client_id != client_id or grant.environment_id != env.id or grant.user_id != user.id:
        raise ValueError("the grant belongs to another client, environment or user")
    if not _usable_user(user):
        raise _invalid_grant("The user may not sign in.")
    family = family or grant.family
    async with rt.db.transaction() as tx:
        if await _live_family(tx, family, client_id) is None:
            tokens = None
        else:
            tokens = await _mint_in(
                tx,
                rt,
                _Mint(
                    environment_id=env.id,
                    client_id=client_id,
                    audience=audience or client_id,
                    user=user,
                    scope=grant.scope,
                    amr=grant.amr,
                    acr=grant.acr,
                    auth_time=grant.auth_time,
                    nonce=grant.nonce,
                    family=family,
                    issuer=issuer,
                    access_ttl=access_token_expiration,
                    token_format=token_format,
                    refresh_ttl=refresh_token_expiration if with_refresh else None,
                    refresh_scope=grant.scope,
                    id_token=True,
                ),
            )
    if tokens is None:
        raise _invalid_grant("The authorization grant has been revoked.")
    return tokens


async def client_credentials_tokens(
    rt: Runtime,
    *,
    env: EnvironmentRecord,
    client_id: str,
    scope: str,
    access_token_expiration: int,
    token_format: str,
    issuer: str,
    audience: str | None = None,
) -> TokenSet:
    """An access token for the client itself (RFC 6749 4.4): ``sub`` is the client id; no
    refresh token, no ID token. Each call starts its own family (so it can be revoked)."""
    _check_lifetime(access_token_expiration, token_format)
    now = rt.clock.now()
    family = new_id()
    async with rt.db.transaction() as tx:
        await repo.insert_family(tx, FamilyRecord(family, env.id, client_id, None, now, None, None))
        return await _mint_in(
            tx,
            rt,
            _Mint(
                environment_id=env.id,
                client_id=client_id,
                audience=audience or client_id,
                user=None,
                scope=normalize_scope(scope),
                amr=(),
                acr=None,
                auth_time=None,
                nonce=None,
                family=family,
                issuer=issuer,
                access_ttl=access_token_expiration,
                token_format=token_format,
                refresh_ttl=None,
                refresh_scope="",
                id_token=False,
            ),
        )


# --- refresh ----------------------------------------------------------------------------------


async def refresh(
    rt: Runtime,
    *,
    client_id: str,
    refresh_token: str,
    access_token_expiration: int,
    token_format: str,
    issuer: str,
    scope: str | None = None,
    refresh_token_expiration: int = REFRESH_TOKEN_TTL_S,
    actor: Actor | None = None,
) -> TokenSet:
    """Exchange a refresh token (RFC 6749 6) for new tokens and a new refresh token.

    The presented token is rotated: it cannot be used again, and presenting it again revokes
    the whole family (every refresh and access token of it) with invalid_grant. ``scope`` may
    narrow the access token's scope (invalid_scope if it asks for more than was granted; empty
    means not given); the new refresh token keeps the original scope. The ID token of a
    refresh keeps ``auth_time``, ``amr`` and ``acr`` of the original authentication, and has
    no ``nonce``. A disabled user, or one whose lock is closed, gets invalid_grant.
    """
    _check_lifetime(access_token_expiration, token_format)
    actor = actor or Actor(f"client:{client_id}")
    token_hash = _hash(refresh_token)
    failure: OAuthError | None = None
    tokens: TokenSet | None = None
    async with rt.db.transaction() as tx:
        now = rt.clock.now()
        record = await repo.find_token(tx, token_hash)
        reused = False
        if record is None or record.kind != "refresh" or record.client_id != client_id:
            failure = _invalid_grant("The refresh token is not valid.")
        elif record.revoked_at is not None or record.family_revoked_at is not None:
            failure = _invalid_grant("The refresh token has been revoked.")
        elif record.rotated_at is not None:
            failure, reused = _invalid_grant("The refresh token has already been used."), True
        elif record.expires_at <= now:
            failure = _invalid_grant("The refresh token has expired.")
        else:
            failure, reused, tokens = await _rotate(
                tx,
                rt,
                record,
                token_hash,
                scope=scope,
                issuer=issuer,
                access_ttl=access_token_expiration,
                token_format=token_format,
                refresh_ttl=refresh_token_expiration,
            )
        if reused:
            assert record is not None
            await _revoke_family(
                tx,
                rt,
                actor,
                family=record.family,
                environment_id=record.environment_id,
                user_id=record.user_id,
                client_id=client_id,
                reason="refresh_reuse",
            )
    if failure is not None:
        raise failure
    assert tokens is not None
    return tokens


async def _rotate(
    tx: Tx,
    rt: Runtime,
    record: TokenRecord,
    token_hash: str,
    *,
    scope: str | None,
    issuer: str,
    access_ttl: int,
    token_format: str,
    refresh_ttl: int,
) -> tuple[OAuthError | None, bool, TokenSet | None]:
    """(failure, reused, tokens) of exchanging a live-looking refresh token."""
    access_scope = record.scope
    if scope is not None and normalize_scope(scope):
        access_scope = normalize_scope(scope)
        if not set(_scopes(access_scope)) <= set(_scopes(record.scope)):
            error = OAuthError("invalid_scope", "The scope exceeds what was granted.")
            return error, False, None
    user = None
    if record.user_id is not None:
        user = await get_user(tx, record.environment_id, record.user_id)
        if not _usable_user(user):
            return _invalid_grant("The user may not sign in."), False, None
    if await _live_family(tx, record.family, record.client_id) is None:
        return _invalid_grant("The refresh token has been revoked."), False, None
    if not await repo.rotate_refresh_token(tx, token_hash, rt.clock.now()):
        # Exchanged (or revoked) by a concurrent request since we read it.
        again = await repo.find_token(tx, token_hash)
        reused = again is not None and again.rotated_at is not None
        return _invalid_grant("The refresh token has already been used."), reused, None
    tokens = await _mint_in(
        tx,
        rt,
        _Mint(
            environment_id=record.environment_id,
            client_id=record.client_id,
            audience=record.audience,
            user=user,
            scope=access_scope,
            amr=tuple(record.amr),
            acr=record.acr,
            auth_time=record.auth_time,
            nonce=None,
            family=record.family,
            issuer=issuer,
            access_ttl=access_ttl,
            token_format=token_format,
            refresh_ttl=refresh_ttl,
            refresh_scope=record.scope,
            id_token=True,
        ),
    )
    return None, False, tokens


# --- validating, introspecting, revoking ------------------------------------------------------


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def _active(record: TokenRecord | None, now: float, kinds: Iterable[str]) -> bool:
    return (
        record is not None
        and record.kind in kinds
        and record.revoked_at is None
        and record.family_revoked_at is None
        and record.rotated_at is None
        and record.expires_at > now
    )


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


async def _verified_jwt(
    tx: Tx, rt: Runtime, token: str
) -> tuple[dict[str, Any], TokenRecord] | None:
    """The claims and record of an unexpired JWT access token of ours whose signature verifies
    against the published keys; None otherwise. (``iat`` is not compared with this node's
    clock: another node's may run a little ahead.)"""
    keys = await verification_keys_in(tx, rt)
    if keys is None:
        return None
    try:
        decoded = jwt.decode(token, keys, algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        return None
    claims = decoded.claims
    if (
        decoded.header.get("typ") != ACCESS_TOKEN_TYPE
        or not _numeric(claims.get("exp"))
        or claims["exp"] <= rt.clock.now()
        or not isinstance(claims.get("jti"), str)
        or not isinstance(claims.get("client_id"), str)
    ):
        return None
    record = await repo.find_token(tx, _hash(claims["jti"]))
    if record is None or record.kind != "jwt" or record.client_id != claims["client_id"]:
        return None
    return claims, record


def _access_claims(record: TokenRecord, claims: dict[str, Any] | None) -> AccessClaims:
    return AccessClaims(
        subject=record.user_id or record.client_id,
        client_id=record.client_id,
        environment_id=record.environment_id,
        user_id=record.user_id,
        scope=record.scope,
        audience=record.audience,
        amr=tuple(record.amr),
        acr=record.acr,
        auth_time=record.auth_time,
        issued_at=record.created_at,
        expires_at=record.expires_at,
        family=record.family,
        jti=None if claims is None else str(claims["jti"]),
        issuer=None if claims is None else claims.get("iss"),
    )


async def _find_access(tx: Tx, rt: Runtime, token: str) -> AccessClaims | None:
    """The claims of an active access token (JWT or opaque), else None."""
    now = rt.clock.now()
    if _looks_like_jwt(token):
        verified = await _verified_jwt(tx, rt, token)
        if verified is None or not _active(verified[1], now, ("jwt",)):
            return None
        return _access_claims(verified[1], verified[0])
    record = await repo.find_token(tx, _hash(token))
    if record is None or not _active(record, now, ("access",)):
        return None
    return _access_claims(record, None)


async def verify_access_token(rt: Runtime, token: str) -> AccessClaims:
    """The claims of a valid access token, for ``/oauth/userinfo`` (RFC 6750); a JWT must
    verify against the published keys and not be revoked, an opaque one be live.
    OAuthError('invalid_token') otherwise (an ID token or a refresh token is not one)."""
    async with rt.db.transaction() as tx:
        claims = await _find_access(tx, rt, token)
    if claims is None:
        raise _invalid_token()
    return claims


async def introspect(
    rt: Runtime, token: str, *, environment_id: str | None = None
) -> dict[str, Any]:
    """RFC 7662: ``{"active": false}`` for an unknown, expired, revoked or rotated token, else
    ``active`` with ``scope, client_id, token_type, exp, iat, sub, aud`` (and ``iss, jti`` of
    a JWT, ``auth_time, amr, acr`` of a user's token). With ``environment_id``, tokens of
    other environments are inactive (a client never learns about another tenant's tokens)."""
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        claims: dict[str, Any] | None = None
        if _looks_like_jwt(token):
            verified = await _verified_jwt(tx, rt, token)
            record = verified[1] if verified is not None else None
            claims = verified[0] if verified is not None else None
            kinds: tuple[str, ...] = ("jwt",)
        else:
            record = await repo.find_token(tx, _hash(token))
            kinds = ("access", "refresh")
    if record is None or not _active(record, now, kinds):
        return {"active": False}
    if environment_id is not None and record.environment_id != environment_id:
        return {"active": False}
    answer: dict[str, Any] = {
        "active": True,
        "scope": record.scope,
        "client_id": record.client_id,
        "token_type": "refresh_token" if record.kind == "refresh" else "Bearer",
        "exp": int(record.expires_at),
        "iat": int(record.created_at),
        "sub": record.user_id or record.client_id,
        "aud": record.audience,
    }
    if claims is not None:
        answer["iss"] = claims.get("iss")
        answer["jti"] = claims["jti"]
    if record.user_id is not None:
        answer["amr"] = list(record.amr)
        if record.auth_time is not None:
            answer["auth_time"] = int(record.auth_time)
        if record.acr is not None:
            answer["acr"] = record.acr
    return answer


async def revoke(
    rt: Runtime,
    client_id: str,
    token: str,
    *,
    token_type_hint: str | None = None,
    actor: Actor | None = None,
) -> None:
    """RFC 7009: revoke a token of ``client_id``. A refresh token takes its whole family with
    it (every access token issued from the same authentication); an access token (JWT or
    opaque) goes alone. Unknown, expired or other clients' tokens are a silent no-op, so the
    endpoint answers 200 whatever happened. ``token_type_hint`` is not needed: every kind is
    searched."""
    del token_type_hint
    actor = actor or Actor(f"client:{client_id}")
    async with rt.db.transaction() as tx:
        now = rt.clock.now()
        if _looks_like_jwt(token):
            verified = await _verified_jwt(tx, rt, token)
            if verified is not None and verified[1].client_id == client_id:
                await repo.revoke_token(tx, _hash(verified[0]["jti"]), now)
            return
        token_hash = _hash(token)
        record = await repo.find_token(tx, token_hash)
        if record is None or record.client_id != client_id:
            return
        if record.kind == "refresh":
            await _revoke_family(
                tx,
                rt,
                actor,
                family=record.family,
                environment_id=record.environment_id,
                user_id=record.user_id,
                client_id=client_id,
                reason="revoked",
            )
        elif record.kind == "access":
            await repo.revoke_token(tx, token_hash, now)
        # kind "jwt": the hash of a jti, which is no token: nothing to revoke.


# --- housekeeping -----------------------------------------------------------------------------


async def purge_expired(rt: Runtime, *, grace_s: float = 24 * 3600, batch: int = 1000) -> int:
    """Delete codes and tokens expired more than ``grace_s`` ago, the families left empty and
    the retired signing keys no longer published; the number of rows deleted.

    The grace keeps a replayed code or a reused refresh token recognisable (and its family
    revocable) for a while after it expired.
    """
    deleted = 0
    before = rt.clock.now() - grace_s
    for purge in (repo.delete_expired_codes, repo.delete_expired_tokens):
        while True:
            async with rt.db.transaction() as tx:
                count = await purge(tx, expired_before=before, limit=batch)
            deleted += count
            if count < batch:
                break
    while True:
        async with rt.db.transaction() as tx:
            count = await repo.delete_unused_families(tx, created_before=before, limit=batch)
        deleted += count
        if count < batch:
            break
    async with rt.db.transaction() as tx:
        deleted += await repo.delete_unpublished_signing_keys(tx, rt.clock.now())
    return deleted
