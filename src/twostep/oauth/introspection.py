"""Reading tokens back: validating an access token (RFC 6750, for ``/oauth/userinfo``),
introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from twostep.oauth.errors import OAuthError
from twostep.oauth.families import revoke_family
from twostep.oauth.keys import ALGORITHM, verification_keys_in
from twostep.oauth.tokens import ACCESS_TOKEN_TYPE, AccessClaims, token_hash
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import oauth as repo
from twostep.storage.repositories.oauth import TokenRecord

__all__ = ["introspect", "revoke", "verify_access_token"]


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
    record = await repo.find_token(tx, token_hash(claims["jti"]))
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
    record = await repo.find_token(tx, token_hash(token))
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
        raise OAuthError("invalid_token", "The access token is not valid.")
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
            record = await repo.find_token(tx, token_hash(token))
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
                await repo.revoke_token(tx, token_hash(verified[0]["jti"]), now)
            return
        hashed = token_hash(token)
        record = await repo.find_token(tx, hashed)
        if record is None or record.client_id != client_id:
            return
        if record.kind == "refresh":
            await revoke_family(tx, rt, actor, record, "revoked")
        elif record.kind == "access":
            await repo.revoke_token(tx, hashed, now)
        # kind "jwt": the hash of a jti, which is no token: nothing to revoke.
