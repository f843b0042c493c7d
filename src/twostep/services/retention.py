"""Housekeeping of what grows with traffic: the audit trail past its retention, and the
per-address failure counters of minutes long gone."""

from __future__ import annotations

from twostep.services.runtime import Runtime
from twostep.storage.repositories.audit_chain import prunable_heads, prune_chain
from twostep.storage.repositories.events import delete_events_before as delete_outbox_before
from twostep.storage.repositories.throttle import delete_ip_failures_before

__all__ = ["EVENTS_KEPT_DAYS", "IP_FAILURES_KEPT_MINUTES", "purge_retained"]

# Only the current minute is ever counted; an hour's margin keeps the rows an operator
# looking into an attack would read.
IP_FAILURES_KEPT_MINUTES = 60
EVENTS_KEPT_DAYS = 30
_DAY_S = 86400.0


async def purge_retained(rt: Runtime, *, batch: int = 1000) -> int:
    """Delete audit events older than ``audit_retention_days`` (when set) and stale address
    counters; the number of rows deleted. Batched, so no transaction holds a lock for long."""
    now = rt.clock.now()
    deleted = 0
    days = rt.settings.audit_retention_days
    if days is not None:
        deleted += await _prune_audit(rt, now - days * _DAY_S, batch)
    async with rt.db.transaction() as tx:
        minute = int(now // 60) - IP_FAILURES_KEPT_MINUTES
        deleted += await delete_ip_failures_before(tx, minute)
        # Events and their delivery logs: a month, unless a delivery still waits (issue 12).
        deleted += await delete_outbox_before(tx, now - EVENTS_KEPT_DAYS * _DAY_S)
    return deleted


async def _prune_audit(rt: Runtime, before: float, batch: int) -> int:
    """Delete the start of each audit chain up to its first event not older than ``before``,
    a batch per transaction; each chain's head records how far (docs/audit-trail.md)."""
    deleted = 0
    while True:
        async with rt.db.transaction() as tx:
            heads = await prunable_heads(tx, before)
        progress = 0
        for head in heads:
            async with rt.db.transaction() as tx:
                progress += await prune_chain(tx, head, before, limit=batch, now=rt.clock.now())
        deleted += progress
        if progress == 0:  # none left, or only chains that a break stops (verify names it)
            return deleted
