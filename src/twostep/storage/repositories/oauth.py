"""Signing keys, authorization codes, token families and tokens of the OAuth server.

Codes and tokens are found by the SHA-256 of their text. The races are settled here: a code is
claimed once (``claim_code``), a refresh token rotated once (``rotate_refresh_token``), and a
mint and a revocation of the same family take turns on the family row (``lock_family`` and
``revoke_family`` both lock it first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from twostep.storage.db import Tx
from twostep.storage.tables import oauth_codes, oauth_families, oauth_tokens, signing_keys

__all__ = [
    "CodeRecord",
    "FamilyRecord",
    "SigningKeyRecord",
    "TokenRecord",
    "claim_code",
    "count_signing_keys_sealed_under",
    "delete_expired_codes",
    "delete_expired_tokens",
    "delete_unpublished_signing_keys",
    "delete_unused_families",
    "find_code",
    "find_token",
    "insert_code",
    "insert_family",
    "insert_signing_key",
    "insert_token",
    "lock_family",
    "newest_signing_key",
    "published_signing_keys",
    "reseal_signing_key",
    "retire_signing_keys",
    "revoke_family",
    "revoke_token",
    "revoke_user_families",
    "rotate_refresh_token",
    "signing_keys_sealed_not_under",
]


# --- signing keys -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    kid: str
    generation: int
    alg: str
    key_id: str
    private_ciphertext: bytes
    public_jwk: dict[str, Any]
    created_at: float
    retired_at: float | None
    publish_until: float | None


def _signing_key(row: Any) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=row.kid,
        generation=row.generation,
        alg=row.alg,
        key_id=row.key_id,
        private_ciphertext=bytes(row.private_ciphertext),
        public_jwk=dict(row.public_jwk),
        created_at=row.created_at,
        retired_at=row.retired_at,
        publish_until=row.publish_until,
    )


async def newest_signing_key(tx: Tx) -> SigningKeyRecord | None:
    """The key that signs: the one of the highest generation."""
    stmt = select(signing_keys).order_by(signing_keys.c.generation.desc()).limit(1)
    row = (await tx.execute(stmt)).first()
    return None if row is None else _signing_key(row)


async def insert_signing_key(tx: Tx, key: SigningKeyRecord) -> bool:
    """Store a key; False (and nothing stored) if its generation was taken meanwhile."""
    try:
        async with tx.begin_nested():
            await tx.execute(
                insert(signing_keys).values(
                    kid=key.kid,
                    generation=key.generation,
                    alg=key.alg,
                    key_id=key.key_id,
                    private_ciphertext=key.private_ciphertext,
                    public_jwk=key.public_jwk,
                    created_at=key.created_at,
                    retired_at=key.retired_at,
                    publish_until=key.publish_until,
                )
            )
    except IntegrityError:
        return False
    return True


async def retire_signing_keys(
    tx: Tx, *, below_generation: int, now: float, publish_until: float
) -> int:
    """Retire the keys older than ``below_generation`` that are not retired yet."""
    stmt = (
        update(signing_keys)
        .where(
            signing_keys.c.generation < below_generation,
            signing_keys.c.retired_at.is_(None),
        )
        .values(retired_at=now, publish_until=publish_until)
    )
    return int((await tx.execute(stmt)).rowcount)


def _published(now: float) -> Any:
    return or_(signing_keys.c.retired_at.is_(None), signing_keys.c.publish_until > now)


async def published_signing_keys(tx: Tx, now: float) -> list[SigningKeyRecord]:
    """The keys whose public half is in the JWKS at ``now``, newest first."""
    stmt = select(signing_keys).where(_published(now)).order_by(signing_keys.c.generation.desc())
    return [_signing_key(row) for row in await tx.execute(stmt)]


async def delete_unpublished_signing_keys(tx: Tx, now: float) -> int:
    """Forget retired keys no longer published: nothing they signed is still valid."""
    stmt = delete(signing_keys).where(
        signing_keys.c.retired_at.is_not(None), signing_keys.c.publish_until <= now
    )
    return int((await tx.execute(stmt)).rowcount)


async def signing_keys_sealed_not_under(
    tx: Tx, key_id: str, *, limit: int
) -> list[tuple[str, str, bytes]]:
    """(kid, key_id, ciphertext) of signing keys sealed under another box key than ``key_id``."""
    stmt = (
        select(signing_keys.c.kid, signing_keys.c.key_id, signing_keys.c.private_ciphertext)
        .where(signing_keys.c.key_id != key_id)
        .limit(limit)
    )
    return [(r.kid, r.key_id, bytes(r.private_ciphertext)) for r in await tx.execute(stmt)]


async def reseal_signing_key(
    tx: Tx, kid: str, *, old_key_id: str, key_id: str, blob: bytes
) -> bool:
    """Store a rewrapped private key unless the row changed meanwhile."""
    stmt = (
        update(signing_keys)
        .where(signing_keys.c.kid == kid, signing_keys.c.key_id == old_key_id)
        .values(key_id=key_id, private_ciphertext=blob)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def count_signing_keys_sealed_under(tx: Tx, key_id: str) -> int:
    stmt = select(func.count()).select_from(signing_keys).where(signing_keys.c.key_id == key_id)
    return int((await tx.execute(stmt)).scalar_one())


# --- families ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FamilyRecord:
    family: str
    environment_id: str
    client_id: str
    user_id: str | None
    created_at: float
    revoked_at: float | None
    revoked_reason: str | None


async def insert_family(tx: Tx, family: FamilyRecord) -> None:
    await tx.execute(
        insert(oauth_families).values(
            family=family.family,
            environment_id=family.environment_id,
            client_id=family.client_id,
            user_id=family.user_id,
            created_at=family.created_at,
            revoked_at=family.revoked_at,
            revoked_reason=family.revoked_reason,
        )
    )


async def lock_family(tx: Tx, family: str) -> FamilyRecord | None:
    """The family, locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite holds
    the database write lock anyway), so a concurrent revocation waits for this mint or this
    mint sees the revocation."""
    stmt = select(oauth_families).where(oauth_families.c.family == family).with_for_update()
    row = (await tx.execute(stmt)).first()
    if row is None:
        return None
    return FamilyRecord(
        family=row.family,
        environment_id=row.environment_id,
        client_id=row.client_id,
        user_id=row.user_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


async def revoke_family(tx: Tx, family: str, *, now: float, reason: str) -> int:
    """Revoke the family and every token of it; the number of tokens newly revoked.

    The family row is updated (so locked) first: a mint into it that already holds the lock
    commits before this goes on, and the token update below then sees its tokens.
    """
    await tx.execute(
        update(oauth_families)
        .where(oauth_families.c.family == family, oauth_families.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    stmt = (
        update(oauth_tokens)
        .where(oauth_tokens.c.family == family, oauth_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int((await tx.execute(stmt)).rowcount)


async def revoke_user_families(tx: Tx, user_id: str, *, now: float, reason: str) -> int:
    """Revoke every family of a user and every token of them (JWT access tokens through
    their recorded ``jti``); the number of tokens newly revoked.

    Families first, as in ``revoke_family``: a mint holding a family's lock commits before
    this goes on, and the token update then sees its tokens.
    """
    await tx.execute(
        update(oauth_families)
        .where(oauth_families.c.user_id == user_id, oauth_families.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    stmt = (
        update(oauth_tokens)
        .where(oauth_tokens.c.user_id == user_id, oauth_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int((await tx.execute(stmt)).rowcount)


async def delete_unused_families(tx: Tx, *, created_before: float, limit: int = 1000) -> int:
    """Delete families left without codes or tokens (all purged)."""
    unused = (
        select(oauth_families.c.family)
        .where(
            oauth_families.c.created_at < created_before,
            ~exists().where(oauth_codes.c.family == oauth_families.c.family),
            ~exists().where(oauth_tokens.c.family == oauth_families.c.family),
        )
        .limit(limit)
    )
    stmt = delete(oauth_families).where(oauth_families.c.family.in_(unused.scalar_subquery()))
    return int((await tx.execute(stmt)).rowcount)


# --- codes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeRecord:
    environment_id: str
    client_id: str
    user_id: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    scope: str
    amr: list[str]
    acr: str
    auth_time: float
    created_at: float
    expires_at: float
    used_at: float | None
    family: str


async def insert_code(tx: Tx, code_hash: str, code: CodeRecord) -> None:
    await tx.execute(
        insert(oauth_codes).values(
            code_hash=code_hash,
            environment_id=code.environment_id,
            client_id=code.client_id,
            user_id=code.user_id,
            redirect_uri=code.redirect_uri,
            code_challenge=code.code_challenge,
            code_challenge_method=code.code_challenge_method,
            nonce=code.nonce,
            scope=code.scope,
            amr=code.amr,
            acr=code.acr,
            auth_time=code.auth_time,
            created_at=code.created_at,
            expires_at=code.expires_at,
            used_at=code.used_at,
            family=code.family,
        )
    )


async def find_code(tx: Tx, code_hash: str) -> CodeRecord | None:
    row = (
        await tx.execute(select(oauth_codes).where(oauth_codes.c.code_hash == code_hash))
    ).first()
    if row is None:
        return None
    return CodeRecord(
        environment_id=row.environment_id,
        client_id=row.client_id,
        user_id=row.user_id,
        redirect_uri=row.redirect_uri,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        nonce=row.nonce,
        scope=row.scope,
        amr=list(row.amr),
        acr=row.acr,
        auth_time=row.auth_time,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        family=row.family,
    )


async def claim_code(tx: Tx, code_hash: str, now: float) -> bool:
    """Mark the code used if it is unused and unexpired; True for the one caller that did."""
    stmt = (
        update(oauth_codes)
        .where(
            oauth_codes.c.code_hash == code_hash,
            oauth_codes.c.used_at.is_(None),
            oauth_codes.c.expires_at > now,
        )
        .values(used_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def delete_expired_codes(tx: Tx, *, expired_before: float, limit: int = 1000) -> int:
    expired = select(oauth_codes.c.code_hash).where(oauth_codes.c.expires_at <= expired_before)
    stmt = delete(oauth_codes).where(
        oauth_codes.c.code_hash.in_(expired.limit(limit).scalar_subquery())
    )
    return int((await tx.execute(stmt)).rowcount)


# --- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRecord:
    kind: str
    environment_id: str
    client_id: str
    user_id: str | None
    scope: str
    audience: str
    family: str
    amr: list[str]
    acr: str | None
    auth_time: float | None
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    rotated_at: float | None = None
    # Read only: when the token's family was revoked.
    family_revoked_at: float | None = None


async def insert_token(tx: Tx, token_hash: str, token: TokenRecord) -> None:
    await tx.execute(
        insert(oauth_tokens).values(
            token_hash=token_hash,
            kind=token.kind,
            environment_id=token.environment_id,
            client_id=token.client_id,
            user_id=token.user_id,
            scope=token.scope,
            audience=token.audience,
            family=token.family,
            amr=token.amr,
            acr=token.acr,
            auth_time=token.auth_time,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            rotated_at=token.rotated_at,
        )
    )


async def find_token(tx: Tx, token_hash: str) -> TokenRecord | None:
    """The token with this hash, and when its family was revoked (if it was)."""
    stmt = (
        select(oauth_tokens, oauth_families.c.revoked_at.label("family_revoked_at"))
        .join(oauth_families, oauth_families.c.family == oauth_tokens.c.family)
        .where(oauth_tokens.c.token_hash == token_hash)
    )
    row = (await tx.execute(stmt)).first()
    if row is None:
        return None
    return TokenRecord(
        kind=row.kind,
        environment_id=row.environment_id,
        client_id=row.client_id,
        user_id=row.user_id,
        scope=row.scope,
        audience=row.audience,
        family=row.family,
        amr=list(row.amr),
        acr=row.acr,
        auth_time=row.auth_time,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        rotated_at=row.rotated_at,
        family_revoked_at=row.family_revoked_at,
    )


async def rotate_refresh_token(tx: Tx, token_hash: str, now: float) -> bool:
    """Mark a live refresh token exchanged; True for the one caller that did."""
    stmt = (
        update(oauth_tokens)
        .where(
            oauth_tokens.c.token_hash == token_hash,
            oauth_tokens.c.kind == "refresh",
            oauth_tokens.c.rotated_at.is_(None),
            oauth_tokens.c.revoked_at.is_(None),
            oauth_tokens.c.expires_at > now,
        )
        .values(rotated_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def revoke_token(tx: Tx, token_hash: str, now: float) -> bool:
    stmt = (
        update(oauth_tokens)
        .where(oauth_tokens.c.token_hash == token_hash, oauth_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def delete_expired_tokens(tx: Tx, *, expired_before: float, limit: int = 1000) -> int:
    expired = select(oauth_tokens.c.token_hash).where(oauth_tokens.c.expires_at <= expired_before)
    stmt = delete(oauth_tokens).where(
        oauth_tokens.c.token_hash.in_(expired.limit(limit).scalar_subquery())
    )
    return int((await tx.execute(stmt)).rowcount)
