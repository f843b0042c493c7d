"""Housekeeping: forget OAuth codes and tokens long expired, and what they leave behind."""

from __future__ import annotations

from twostep.services.runtime import Runtime
from twostep.storage.repositories import oauth as repo

__all__ = ["purge_expired"]


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
