"""Rotating the key that seals TOTP secrets and OAuth signing keys, without downtime (spec 3.2)."""

from __future__ import annotations

from dataclasses import dataclass, field

from twostep.services.runtime import Runtime
from twostep.storage.repositories import authenticators as repo
from twostep.storage.repositories import journeys as journey_repo
from twostep.storage.repositories import oauth as oauth_repo

__all__ = ["KeptKey", "RotationReport", "rotate_keys"]

_BATCH = 500


@dataclass(frozen=True, slots=True)
class KeptKey:
    """An old key ``--retire`` had to keep, and what is still sealed under it."""

    key_id: str
    secrets: int
    journeys: int


@dataclass(frozen=True, slots=True)
class RotationReport:
    new_key_id: str
    rewrapped: int
    retired: list[str]
    kept: list[KeptKey] = field(default_factory=list)


async def rotate_keys(rt: Runtime, *, retire: bool) -> RotationReport:
    """Make a new primary key, rewrap every secret under it in small transactions, and with
    ``retire`` drop the old keys once nothing is sealed under them: no secret, no signing key
    and no live journey state (the keys kept are in the report).

    Running nodes keep decrypting with the old keys (still in the file) and learn the new one
    from the file the first time they meet a secret sealed under it.
    """
    path = rt.settings.resolved_secrets_file
    keyring = rt.box.keyring
    new_key_id = keyring.add_primary()
    keyring.save(path)
    rewrapped = await _rewrap_authenticators(rt, new_key_id)
    rewrapped += await _rewrap_signing_keys(rt, new_key_id)
    retired: list[str] = []
    kept: list[KeptKey] = []
    if retire:
        for key_id in [k for k in keyring.keys if k != new_key_id]:
            still = await _still_sealed_under(rt, key_id)
            if still.secrets == 0 and still.journeys == 0:
                keyring.retire(key_id)
                retired.append(key_id)
            else:
                kept.append(still)
        keyring.save(path)
    return RotationReport(new_key_id, rewrapped, retired, kept)


async def _rewrap_authenticators(rt: Runtime, new_key_id: str) -> int:
    """Reseal every TOTP secret under ``new_key_id``, a batch per transaction."""
    rewrapped = 0
    while True:
        async with rt.db.transaction() as tx:
            batch = await repo.sealed_not_under(tx, new_key_id, limit=_BATCH)
            for authenticator_id, old_key_id, blob in batch:
                rewrap = rt.box.rewrap(old_key_id, blob, aad=authenticator_id.encode())
                if rewrap is not None and await repo.reseal(
                    tx, authenticator_id, old_key_id=old_key_id, key_id=rewrap[0], blob=rewrap[1]
                ):
                    rewrapped += 1
        if len(batch) < _BATCH:
            return rewrapped


async def _rewrap_signing_keys(rt: Runtime, new_key_id: str) -> int:
    """Reseal the OAuth signing keys (a handful of rows, their kid as associated data)."""
    rewrapped = 0
    async with rt.db.transaction() as tx:
        for kid, old_key_id, blob in await oauth_repo.signing_keys_sealed_not_under(
            tx, new_key_id, limit=_BATCH
        ):
            rewrap = rt.box.rewrap(old_key_id, blob, aad=kid.encode())
            if rewrap is not None and await oauth_repo.reseal_signing_key(
                tx, kid, old_key_id=old_key_id, key_id=rewrap[0], blob=rewrap[1]
            ):
                rewrapped += 1
    return rewrapped


async def _still_sealed_under(rt: Runtime, key_id: str) -> KeptKey:
    """What still needs ``key_id``: secrets and signing keys, and live journey state.

    Live journeys keep what they sealed (recovery codes to show, the step last shown) under
    the key of their time until they expire, rather than having rows that a running journey
    may be claiming at this moment rewrapped under them.
    """
    async with rt.db.transaction() as tx:
        sealed = await repo.count_sealed_under(tx, key_id)
        sealed += await oauth_repo.count_signing_keys_sealed_under(tx, key_id)
        journeys = await journey_repo.count_live_sealed_under(tx, key_id, rt.clock.now())
    return KeptKey(key_id, sealed, journeys)
