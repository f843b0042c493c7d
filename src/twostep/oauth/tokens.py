"""The words of the token core: what codes and tokens are called, what a grant is, what the
token endpoint answers, and the claims a scope allows. The grants themselves live beside it:
``codes`` (authorization codes), ``minting`` (token sets), ``refresh`` (rotation),
``introspection`` (reading back, revoking), ``families`` (revoking together), ``purge``.

The grants are ours and thin (design section 3), JOSE is joserfc's. The endpoints
(``oauth.server``) authenticate the client, check its settings and pass them in; the grant
modules settle everything that must be exactly once, in SQL. Every time comes from
``rt.clock``. A failure raises ``OAuthError`` after the transaction has committed what the
failure must leave behind (a revoked family), never before.

``acr`` takes one of two values, fixed by the methods in ``amr`` (RFC 8176 values):

- ``urn:twostep:acr:mfa`` (``ACR_MFA``): a second factor was used: ``amr`` has ``otp`` (a
  TOTP code) or ``recovery`` (a recovery code);
- ``urn:twostep:acr:pwd`` (``ACR_PWD``): the password alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from twostep.crypto import hash_api_key
from twostep.services.factors import proves_second_factor
from twostep.storage.repositories.users import UserRecord

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ACR_MFA",
    "ACR_PWD",
    "CODE_CHALLENGE",
    "REFRESH_TOKEN_TTL_S",
    "TOKEN_FORMATS",
    "AccessClaims",
    "CodeGrant",
    "Grant",
    "TokenSet",
    "acr_for",
    "normalize_scope",
    "scopes_of",
    "token_hash",
    "user_claims",
]

REFRESH_TOKEN_TTL_S: Final = 30 * 24 * 3600
ACR_PWD: Final = "urn:twostep:acr:pwd"  # noqa: S105 - an acr value, not a password
ACR_MFA: Final = "urn:twostep:acr:mfa"
#: The JWS ``typ`` of JWT access tokens (RFC 9068); ID tokens are ``JWT``, so an ID token
#: is never taken for an access token.
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a JWS typ value
TOKEN_FORMATS: Final = frozenset({"jwt", "opaque"})
# RFC 7636 4.2: an S256 challenge is the unpadded base64url of a SHA-256 digest, so exactly 43
# of the 43-128 unreserved characters spec 3b.5 allows (the only ones any verifier can match).
# /oauth/authorize checks it already, so that a sign-in never ends in a code that cannot be
# issued.
CODE_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_\-]{43}")


def acr_for(amr: Iterable[str]) -> str:
    """``ACR_MFA`` when ``amr`` has a second factor (``otp`` or ``recovery``), else ``ACR_PWD``."""
    return ACR_MFA if proves_second_factor(amr) else ACR_PWD


def normalize_scope(scope: str | Iterable[str]) -> str:
    """The scope as RFC 6749 3.3 writes it: space-separated, each value once, order kept."""
    values = scope.split() if isinstance(scope, str) else list(scope)
    return " ".join(dict.fromkeys(values))


def scopes_of(scope: str) -> list[str]:
    """The values of a space-separated scope."""
    return scope.split()


def token_hash(text: str) -> str:
    """The SHA-256 hex a code or token is stored by. Ours are ASCII: anything else (a lone
    surrogate even) gets a value no row has, rather than an encoding error."""
    return hash_api_key(text) if text.isascii() else "-"


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
        return frozenset(scopes_of(self.scope))


def user_claims(user: UserRecord, scope: str) -> dict[str, Any]:
    """The user's claims the scope allows (OIDC Core 5.4): ``sub`` always, ``email`` with
    ``email``, ``preferred_username`` with ``profile``, ``phone_number`` with ``phone``.
    For the ID token and for ``/oauth/userinfo``."""
    scopes = set(scopes_of(scope))
    claims: dict[str, Any] = {"sub": user.id}
    if "email" in scopes and user.email:
        claims["email"] = user.email
    if "profile" in scopes and (user.username or user.email):
        claims["preferred_username"] = user.username or user.email
    if "phone" in scopes and user.phone:
        claims["phone_number"] = user.phone
    return claims
