"""Authorization codes (RFC 6749 4.1, RFC 7636): issued at the end of a sign-in, redeemed once.

A code carries 256 random bits, is stored as its SHA-256 and lives ``CODE_TTL_S`` (60 s).
Redeeming one claims it with a conditional UPDATE, so of N concurrent redemptions one wins; any
other redemption of a claimed code is a replay, and revokes every token issued from it (RFC
6749 10.5). Only PKCE ``S256`` is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from twostep.oauth.errors import OAuthError
from twostep.oauth.families import Refusal, invalid_grant, revoke_family
from twostep.oauth.tokens import CODE_CHALLENGE, CodeGrant, acr_for, normalize_scope, token_hash
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import oauth as repo
from twostep.storage.repositories.oauth import CodeRecord, FamilyRecord
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.tables import new_id

__all__ = [
    "CODE_TTL_S",
    "MAX_NONCE",
    "MAX_REDIRECT_URI",
    "MAX_SCOPE",
    "Authentication",
    "CodeRequest",
    "issue_code",
    "redeem_code",
]

CODE_TTL_S: Final = 60
MAX_NONCE: Final = 512
MAX_REDIRECT_URI: Final = 2000
MAX_SCOPE: Final = 1000
# RFC 7636 4.1: the verifier is 43-128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_USED: Final = "The authorization code has already been used."


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """What a code is issued for: the client's request, as ``/oauth/authorize`` checked it."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    scope: str


@dataclass(frozen=True, slots=True)
class Authentication:
    """How the user signed in: RFC 8176 methods and when. ``acr`` defaults to
    ``acr_for(amr)``; another value than that is a programming error."""

    user_id: str
    amr: Sequence[str]
    auth_time: float
    acr: str | None = None


def _storable(text: str, limit: int) -> bool:
    """Text fit to store: bounded, and without control characters (PostgreSQL refuses NUL)."""
    return len(text) <= limit and text.isprintable()


def _checked(request: CodeRequest) -> None:
    """OAuthError('invalid_request') for a request no code can be stored for."""
    if request.code_challenge_method != "S256":
        raise OAuthError("invalid_request", "PKCE with code_challenge_method S256 is required.")
    if not CODE_CHALLENGE.fullmatch(request.code_challenge):
        raise OAuthError("invalid_request", "The code_challenge is not a valid S256 challenge.")
    if request.nonce is not None and not _storable(request.nonce, MAX_NONCE):
        raise OAuthError("invalid_request", "The nonce is too long or has control characters.")
    if not _storable(request.redirect_uri, MAX_REDIRECT_URI) or not _storable(
        request.scope, MAX_SCOPE
    ):
        raise OAuthError("invalid_request", "The redirect_uri or scope is not valid.")


async def issue_code(
    rt: Runtime, env: EnvironmentRecord, request: CodeRequest, by: Authentication
) -> str:
    """A new authorization code for the user's authentication (a new token family).

    Only PKCE ``S256`` is accepted (``plain`` is refused: invalid_request).
    """
    _checked(request)
    expected_acr = acr_for(by.amr)
    if by.acr is not None and by.acr != expected_acr:
        raise ValueError(f"acr {by.acr!r} does not follow from amr {list(by.amr)!r}")
    code = secrets.token_urlsafe(32)
    now = rt.clock.now()
    family = new_id()
    record = CodeRecord(
        environment_id=env.id,
        client_id=request.client_id,
        user_id=by.user_id,
        redirect_uri=request.redirect_uri,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        nonce=request.nonce,
        scope=normalize_scope(request.scope),
        amr=list(by.amr),
        acr=expected_acr,
        auth_time=by.auth_time,
        created_at=now,
        expires_at=now + CODE_TTL_S,
        used_at=None,
        family=family,
    )
    async with rt.db.transaction() as tx:
        await repo.insert_family(
            tx, FamilyRecord(family, env.id, request.client_id, by.user_id, now, None, None)
        )
        await repo.insert_code(tx, token_hash(code), record)
    return code


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pkce_matches(verifier: str, challenge: str) -> bool:
    if not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(_s256(verifier), challenge)


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
    code_hash = token_hash(code)
    async with rt.db.transaction() as tx:
        claimed = await _claim(tx, rt, code_hash, client_id, redirect_uri, code_verifier)
        if isinstance(claimed, Refusal) and claimed.revokes is not None:
            await revoke_family(tx, rt, actor, claimed.revokes, "code_replay")
    if isinstance(claimed, Refusal):
        raise claimed.error
    return CodeGrant(
        environment_id=claimed.environment_id,
        client_id=claimed.client_id,
        user_id=claimed.user_id,
        scope=claimed.scope,
        amr=tuple(claimed.amr),
        acr=claimed.acr,
        auth_time=claimed.auth_time,
        nonce=claimed.nonce,
        family=claimed.family,
        redirect_uri=claimed.redirect_uri,
    )


async def _claim(
    tx: Tx, rt: Runtime, code_hash: str, client_id: str, redirect_uri: str, verifier: str
) -> CodeRecord | Refusal:
    """The code's record, claimed for this redemption; or why it cannot be."""
    now = rt.clock.now()
    record = await repo.find_code(tx, code_hash)
    if record is None or record.client_id != client_id:
        return Refusal(invalid_grant("The authorization code is not valid."))
    if record.used_at is not None:
        return Refusal(invalid_grant(_USED), revokes=record)
    if record.expires_at <= now:
        return Refusal(invalid_grant("The authorization code has expired."))
    if redirect_uri != record.redirect_uri:
        return Refusal(invalid_grant("The redirect_uri does not match the authorization request."))
    if record.code_challenge_method != "S256" or not _pkce_matches(verifier, record.code_challenge):
        return Refusal(invalid_grant("The code_verifier does not match the code_challenge."))
    if not await repo.claim_code(tx, code_hash, now):
        # Claimed by a concurrent redemption between the read and the claim: a replay too.
        again = await repo.find_code(tx, code_hash)
        replayed = again if again is not None and again.used_at is not None else None
        return Refusal(invalid_grant(_USED), revokes=replayed)
    return record
