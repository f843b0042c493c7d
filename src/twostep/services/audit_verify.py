"""Walking the audit chains: every event's hash recomputed, every link and place checked, the
head and the anchors compared; the first broken link of each chain named (docs/audit-trail.md).

A chain is read a batch per transaction, in place order, so a trail of millions of events is
checked in constant memory without holding the database for long.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from twostep.services.audit_anchors import Anchor
from twostep.services.runtime import Runtime
from twostep.storage.audit_chain import GENESIS, link_hash
from twostep.storage.repositories.audit import SERVER_CHAIN, AuditEvent, content_of
from twostep.storage.repositories.audit_chain import (
    ChainHead,
    chain_events,
    chain_head,
    chain_keys,
    environment_names,
    event_seq_with_hash,
)

__all__ = ["BreakKind", "ChainBreak", "ChainReport", "verify_chains"]

# edited: an event's content no longer matches its hash (or it was rewritten and rehashed);
# deleted: places missing; reordered: an intact event out of its place; forked: two events at
# one place; truncated: the chain ends before its head or an anchor; rewritten: the event at an
# anchored place is not the one anchored (the chain was recomputed from an edit onwards).
BreakKind = Literal["edited", "deleted", "reordered", "forked", "truncated", "rewritten"]
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class ChainBreak:
    kind: BreakKind
    seq: int
    # The row's id; None when the event is not there (deleted, truncated).
    id: int | None
    detail: str


@dataclass(slots=True)
class ChainReport:
    chain: str
    name: str
    events: int = 0
    first_seq: int = 0
    last_seq: int = 0
    pruned_seq: int = 0
    pruned_at: float | None = None
    anchors_checked: int = 0
    broken: ChainBreak | None = None


class _Walk:
    """One chain, event after event in place order: what the next event must be."""

    def __init__(self, rt: Runtime, report: ChainReport, head: ChainHead | None) -> None:
        self.rt, self.report, self.head = rt, report, head
        self.expected_seq = (head.pruned_seq if head else 0) + 1
        self.expected_prev = head.pruned_hash if head else GENESIS
        self.last: AuditEvent | None = None
        self.head_hash_seen: str | None = None

    async def check(self, event: AuditEvent, anchors: dict[int, list[Anchor]]) -> ChainBreak | None:
        if event.seq < self.expected_seq:
            other = self.last.id if self.last else None
            return ChainBreak(
                "forked", event.seq, event.id, f"a second event at seq {event.seq} (id {other})"
            )
        if event.seq > self.expected_seq and not await self._pruned_meanwhile(event.seq):
            return self._gap(event.seq)
        if link_hash(event.prev_hash, content_of(event)) != event.hash:
            return ChainBreak(
                "edited", event.seq, event.id, "its content does not match its hash (changed)"
            )
        if event.prev_hash != self.expected_prev:
            return await self._misplaced(event)
        for anchor in anchors.get(event.seq, []):
            self.report.anchors_checked += 1
            if anchor.hash != event.hash:
                return ChainBreak(
                    "rewritten",
                    event.seq,
                    event.id,
                    f"not the event anchored at {anchor.time} (anchor file line {anchor.line}): "
                    "the chain was recomputed from an edit at or before this place",
                )
        if self.head is not None and event.seq == self.head.seq:
            self.head_hash_seen = event.hash
        self.expected_seq, self.expected_prev, self.last = event.seq + 1, event.hash, event
        self.report.events += 1
        self.report.first_seq = self.report.first_seq or event.seq
        self.report.last_seq = event.seq
        return None

    async def _pruned_meanwhile(self, seq: int) -> bool:
        """Retention may prune the start while the walk passes: the head then says so."""
        async with self.rt.db.transaction() as tx:
            head = await chain_head(tx, self.report.chain)
        if head is None or head.pruned_seq != seq - 1:
            return False
        self.expected_seq, self.expected_prev = seq, head.pruned_hash
        self.report.pruned_seq = head.pruned_seq
        self.report.pruned_at = head.pruned_at
        return True

    def _gap(self, seq: int) -> ChainBreak:
        first, last = self.expected_seq, seq - 1
        places = f"seq {first}" if first == last else f"seq {first} to {last}"
        where = "after the prune point of retention" if self.last is None else "in the chain"
        return ChainBreak("deleted", first, None, f"{places} missing {where}")

    async def _misplaced(self, event: AuditEvent) -> ChainBreak:
        async with self.rt.db.transaction() as tx:
            follows = await event_seq_with_hash(tx, self.report.chain, event.prev_hash)
        if follows is not None and follows != event.seq - 1:
            return ChainBreak(
                "reordered",
                event.seq,
                event.id,
                f"it follows the event at seq {follows}, not the one at seq {event.seq - 1}",
            )
        if self.last is None:
            return ChainBreak(
                "edited", event.seq, event.id, "it does not link to the prune point in the head"
            )
        return ChainBreak(
            "edited",
            self.last.seq,
            self.last.id,
            f"rewritten and rehashed: the event at seq {event.seq} links to another hash",
        )

    def end(self, anchors: dict[int, list[Anchor]]) -> ChainBreak | None:
        """After the last event: the chain reaches its head and every anchor past the prune."""
        last = self.expected_seq - 1
        if self.head is None and last > 0:
            return ChainBreak(
                "deleted", last + 1, None, "its head row is missing: the next event would fail"
            )
        if self.head is not None and last < self.head.seq:
            return ChainBreak(
                "truncated",
                last + 1,
                None,
                f"the chain ends at seq {last}; its head row says seq {self.head.seq}",
            )
        head = self.head
        if head is not None and head.seq > head.pruned_seq and self.head_hash_seen != head.hash:
            return ChainBreak("edited", head.seq, None, "the head row's hash is not the event's")
        beyond = [a for seq, group in anchors.items() if seq > last for a in group]
        if beyond:
            anchor = max(beyond, key=lambda a: a.seq)
            return ChainBreak(
                "truncated",
                last + 1,
                None,
                f"the chain ends at seq {last}; the anchor of {anchor.time} (anchor file line "
                f"{anchor.line}) says it reached seq {anchor.seq}",
            )
        return None


async def _verify_chain(rt: Runtime, chain: str, name: str, anchors: list[Anchor]) -> ChainReport:
    async with rt.db.transaction() as tx:
        head = await chain_head(tx, chain)
    report = ChainReport(chain, name)
    if head is not None:
        report.pruned_seq, report.pruned_at = head.pruned_seq, head.pruned_at
    by_seq: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        if anchor.seq > report.pruned_seq:  # an anchor of a pruned place proves nothing now
            by_seq.setdefault(anchor.seq, []).append(anchor)
    walk = _Walk(rt, report, head)
    after = (walk.expected_seq - 1, 0)
    while report.broken is None:
        async with rt.db.transaction() as tx:
            batch = await chain_events(tx, chain, after=after, limit=_BATCH)
        for event in batch:
            report.broken = await walk.check(event, by_seq)
            if report.broken is not None:
                break
        if len(batch) < _BATCH:
            break
        after = (batch[-1].seq, batch[-1].id)
    if report.broken is None:
        report.broken = walk.end(by_seq)
    return report


async def verify_chains(
    rt: Runtime, anchors: dict[str, list[Anchor]], only: str | None = None
) -> AsyncIterator[ChainReport]:
    """A report per chain (every one, or ``only``: an environment's id, or "" for the
    server's), each walked to its end or its first break."""
    async with rt.db.transaction() as tx:
        names = await environment_names(tx)
        chains = [only] if only is not None else await chain_keys(tx)
    for chain in chains:
        name = "server" if chain == SERVER_CHAIN else names.get(chain, f"{chain} (deleted)")
        yield await _verify_chain(rt, chain, name, anchors.get(chain, []))
