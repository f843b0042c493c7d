"""The keys ID tokens and JWT access tokens are signed with, and the JWKS that publishes them.

One ES256 (P-256) key signs at a time: the newest one (highest ``generation``). The first is
made lazily by whichever process needs it first; the unique generation lets only one of
several racing processes store it, and the others read the winner's. ``rotate_signing_keys``
puts a new key in charge and retires the old one, whose public half stays in the JWKS until
``publish_until`` so that the tokens it signed still verify until they expire. Private keys
are stored sealed by the ``SecretBox`` (AES-GCM, the kid as associated data), so ``twostep
keys rotate`` rewraps them like the TOTP secrets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from joserfc.jwk import ECKey, KeySet

from twostep.services.runtime import Runtime
from twostep.storage import Tx
from twostep.storage.repositories import oauth as repo
from twostep.storage.repositories.oauth import SigningKeyRecord

__all__ = [
    "ALGORITHM",
    "SigningKey",
    "current_signing_key",
    "jwks",
    "rotate_signing_keys",
    "signing_key_in",
    "verification_keys_in",
]

ALGORITHM: Final = "ES256"
_CURVE: Final = "P-256"
_ATTEMPTS: Final = 5


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The private key that signs now, with its JWS ``kid`` and ``alg``."""

    kid: str
    alg: str
    key: ECKey

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def _aad(kid: str) -> bytes:
    # As ``services.keys.rotate_keys`` rewraps it: the row's kid binds the ciphertext to it.
    return kid.encode()


def _new_record(rt: Runtime, generation: int, now: float) -> SigningKeyRecord:
    """A fresh P-256 key, its kid the RFC 7638 thumbprint, sealed by the box."""
    key = ECKey.generate_key(_CURVE, parameters={"alg": ALGORITHM, "use": "sig"}, auto_kid=True)
    kid = key.kid
    assert kid is not None
    private = json.dumps(key.as_dict(private=True), sort_keys=True).encode("utf-8")
    key_id, blob = rt.box.encrypt(private, aad=_aad(kid))
    return SigningKeyRecord(
        kid=kid,
        generation=generation,
        alg=ALGORITHM,
        key_id=key_id,
        private_ciphertext=blob,
        public_jwk=dict(key.as_dict(private=False)),
        created_at=now,
        retired_at=None,
        publish_until=None,
    )


def _unseal(rt: Runtime, record: SigningKeyRecord) -> SigningKey:
    private = rt.box.decrypt(record.key_id, record.private_ciphertext, aad=_aad(record.kid))
    key = ECKey.import_key(json.loads(private))
    return SigningKey(record.kid, record.alg, key)


async def signing_key_in(tx: Tx, rt: Runtime) -> SigningKey:
    """The key that signs now, created inside ``tx`` if there is none yet."""
    record = await repo.newest_signing_key(tx)
    if record is None:
        fresh = _new_record(rt, 1, rt.clock.now())
        # False: another process stored the first key meanwhile; use that one.
        record = fresh if await repo.insert_signing_key(tx, fresh) else None
        if record is None:
            record = await repo.newest_signing_key(tx)
            assert record is not None
    return _unseal(rt, record)


async def current_signing_key(rt: Runtime) -> SigningKey:
    """The key that signs now (the first one is created on first use)."""
    async with rt.db.transaction() as tx:
        return await signing_key_in(tx, rt)


async def rotate_signing_keys(rt: Runtime, *, publish_for_s: float) -> str:
    """Put a new key in charge; the kid of the new key.

    The keys it replaces are retired now and stay published for ``publish_for_s`` seconds:
    pass at least the longest lifetime of the tokens they may have signed (ID tokens and JWT
    access tokens live as long as the client's ``access_token_expiration``).
    """
    if publish_for_s < 0:
        raise ValueError("publish_for_s must not be negative")
    for _ in range(_ATTEMPTS):
        async with rt.db.transaction() as tx:
            now = rt.clock.now()
            newest = await repo.newest_signing_key(tx)
            generation = 1 if newest is None else newest.generation + 1
            record = _new_record(rt, generation, now)
            if await repo.insert_signing_key(tx, record):
                await repo.retire_signing_keys(
                    tx, below_generation=generation, now=now, publish_until=now + publish_for_s
                )
                return record.kid
    # Only reachable if other processes keep rotating at the same instant.
    raise RuntimeError("could not rotate the signing keys: too many concurrent rotations")


async def _published(tx: Tx, rt: Runtime) -> list[SigningKeyRecord]:
    return await repo.published_signing_keys(tx, rt.clock.now())


async def jwks(rt: Runtime) -> dict[str, Any]:
    """The JWK Set of ``/.well-known/jwks.json``: the public halves of the current key and of
    the retired keys still published, newest first. Never any private member."""
    async with rt.db.transaction() as tx:
        records = await _published(tx, rt)
    return {"keys": [dict(record.public_jwk) for record in records]}


async def verification_keys_in(tx: Tx, rt: Runtime) -> KeySet | None:
    """The published public keys as a joserfc ``KeySet`` (None before the first key exists)."""
    records = await _published(tx, rt)
    if not records:
        return None
    return KeySet([ECKey.import_key(dict(record.public_jwk)) for record in records])
