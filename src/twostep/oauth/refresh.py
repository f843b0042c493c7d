"""The refresh_token grant (RFC 6749 6): refresh tokens rotate.

Each exchange marks the presented token rotated (a conditional UPDATE) and issues a new one in
the same family; presenting a rotated token again is reuse, and revokes the family (OAuth 2.0
Security BCP 4.14).
"""

from __future__ import annotations

import dataclasses

from twostep.oauth.errors import OAuthError
from twostep.oauth.families import Refusal, invalid_grant, live_family, revoke_family, usable_user
from twostep.oauth.minting import Mint, TokenPolicy, mint_in
from twostep.oauth.tokens import REFRESH_TOKEN_TTL_S, TokenSet, normalize_scope, token_hash
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import oauth as repo
from twostep.storage.repositories.oauth import TokenRecord
from twostep.storage.repositories.users import get_user

__all__ = ["refresh"]

_USED = "The refresh token has already been used."


async def refresh(
    rt: Runtime,
    *,
    client_id: str,
    refresh_token: str,
    policy: TokenPolicy,
    scope: str | None = None,
    actor: Actor | None = None,
) -> TokenSet:
    """Exchange a refresh token (RFC 6749 6) for new tokens and a new refresh token.

    The presented token is rotated: it cannot be used again, and presenting it again revokes
    the whole family (every refresh and access token of it) with invalid_grant. ``scope`` may
    narrow the access token's scope (invalid_scope if it asks for more than was granted; empty
    means not given); the new refresh token keeps the original scope, and lives the policy's
    refresh lifetime (``REFRESH_TOKEN_TTL_S`` when it has none: a rotation always replaces the
    token). The ID token of a refresh keeps ``auth_time``, ``amr`` and ``acr`` of the original
    authentication, and has no ``nonce``. A disabled user, or one whose lock is closed, gets
    invalid_grant.
    """
    actor = actor or Actor(f"client:{client_id}")
    if policy.refresh_ttl is None:
        policy = dataclasses.replace(policy, refresh_ttl=REFRESH_TOKEN_TTL_S)
    token = token_hash(refresh_token)
    async with rt.db.transaction() as tx:
        exchanged = await _exchange(tx, rt, token, client_id, policy, scope)
        if isinstance(exchanged, Refusal) and exchanged.revokes is not None:
            await revoke_family(tx, rt, actor, exchanged.revokes, "refresh_reuse")
    if isinstance(exchanged, Refusal):
        raise exchanged.error
    return exchanged


async def _exchange(
    tx: Tx, rt: Runtime, token: str, client_id: str, policy: TokenPolicy, scope: str | None
) -> TokenSet | Refusal:
    """The new token set for the refresh token hashed ``token``; or why there is none."""
    record = await repo.find_token(tx, token)
    if record is None or record.kind != "refresh" or record.client_id != client_id:
        return Refusal(invalid_grant("The refresh token is not valid."))
    if record.revoked_at is not None or record.family_revoked_at is not None:
        return Refusal(invalid_grant("The refresh token has been revoked."))
    if record.rotated_at is not None:
        return Refusal(invalid_grant(_USED), revokes=record)
    if record.expires_at <= rt.clock.now():
        return Refusal(invalid_grant("The refresh token has expired."))
    return await _rotate(tx, rt, record, token, policy, scope)


async def _rotate(
    tx: Tx, rt: Runtime, record: TokenRecord, token: str, policy: TokenPolicy, scope: str | None
) -> TokenSet | Refusal:
    """Exchange a live-looking refresh token: rotate it, mint the new set."""
    access_scope = record.scope
    if scope is not None and normalize_scope(scope):
        access_scope = normalize_scope(scope)
        if not set(access_scope.split()) <= set(record.scope.split()):
            return Refusal(OAuthError("invalid_scope", "The scope exceeds what was granted."))
    user = None
    if record.user_id is not None:
        user = await get_user(tx, record.environment_id, record.user_id)
        if not usable_user(user):
            return Refusal(invalid_grant("The user may not sign in."))
    if await live_family(tx, record.family, record.client_id) is None:
        return Refusal(invalid_grant("The refresh token has been revoked."))
    if not await repo.rotate_refresh_token(tx, token, rt.clock.now()):
        # Exchanged (or revoked) by a concurrent request since we read it.
        again = await repo.find_token(tx, token)
        reused = again is not None and again.rotated_at is not None
        return Refusal(invalid_grant(_USED), revokes=record if reused else None)
    mint = Mint(
        environment_id=record.environment_id,
        client_id=record.client_id,
        user=user,
        scope=access_scope,
        amr=tuple(record.amr),
        acr=record.acr,
        auth_time=record.auth_time,
        nonce=None,
        family=record.family,
        policy=dataclasses.replace(policy, audience=record.audience),
        refresh_scope=record.scope,
        id_token=True,
    )
    return await mint_in(tx, rt, mint)
