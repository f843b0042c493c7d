"""The audit trail as chains: their heads, their events in order, and retention's pruning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, union_all, update

from twostep.storage.db import Tx
from twostep.storage.repositories.audit import SERVER_CHAIN, AuditEvent, stored_event
from twostep.storage.tables import audit_events, audit_heads, environments, organizations

__all__ = [
    "ChainHead",
    "chain_events",
    "chain_head",
    "chain_heads",
    "chain_keys",
    "environment_names",
    "event_seq_with_hash",
    "prunable_heads",
    "prune_chain",
]


@dataclass(frozen=True, slots=True)
class ChainHead:
    """A chain's last place and hash; and the last place and hash retention deleted (0 and
    the genesis hash when it never pruned): the chain starts right after."""

    chain: str
    seq: int
    hash: str
    pruned_seq: int
    pruned_hash: str
    pruned_at: float | None


def _in_chain(chain: str) -> ColumnElement[bool]:
    column = audit_events.c.environment_id
    return column.is_(None) if chain == SERVER_CHAIN else column == chain


def _head(row: object) -> ChainHead:
    return ChainHead(*row)  # type: ignore[misc]


_HEAD_COLUMNS = (
    audit_heads.c.chain,
    audit_heads.c.seq,
    audit_heads.c.hash,
    audit_heads.c.pruned_seq,
    audit_heads.c.pruned_hash,
    audit_heads.c.pruned_at,
)


async def chain_head(tx: Tx, chain: str) -> ChainHead | None:
    stmt = select(*_HEAD_COLUMNS).where(audit_heads.c.chain == chain)
    row = (await tx.execute(stmt)).one_or_none()
    return None if row is None else _head(row)


async def chain_heads(tx: Tx) -> list[ChainHead]:
    return [_head(r) for r in await tx.execute(select(*_HEAD_COLUMNS))]


async def chain_keys(tx: Tx) -> list[str]:
    """Every chain with a head or with events (a head row deleted does not hide its events)."""
    with_events = select(func.coalesce(audit_events.c.environment_id, SERVER_CHAIN)).distinct()
    keys = {str(k) for k in (await tx.execute(with_events)).scalars()}
    keys.update(str(k) for k in (await tx.execute(select(audit_heads.c.chain))).scalars())
    return sorted(keys)


async def chain_events(
    tx: Tx, chain: str, *, after: tuple[int, int], limit: int
) -> list[AuditEvent]:
    """Up to ``limit`` events of the chain past position ``after`` (place, id), in chain order
    (the id only tells apart two events at one place: a fork)."""
    e = audit_events.c
    seq, row_id = after
    stmt = (
        select(audit_events)
        .where(_in_chain(chain), or_(e.seq > seq, and_(e.seq == seq, e.id > row_id)))
        .order_by(e.seq, e.id)
        .limit(limit)
    )
    return [stored_event(r) for r in await tx.execute(stmt)]


async def environment_names(tx: Tx) -> dict[str, str]:
    """``domain/environment`` of every environment, by id: how a report names a chain."""
    stmt = select(environments.c.id, organizations.c.domain, environments.c.name).join(
        organizations, organizations.c.id == environments.c.organization_id
    )
    return {row.id: f"{row.domain}/{row.name}" for row in await tx.execute(stmt)}


async def event_seq_with_hash(tx: Tx, chain: str, digest: str) -> int | None:
    """The place of the chain's event whose hash is ``digest``, if any (to name a break)."""
    stmt = select(audit_events.c.seq).where(_in_chain(chain), audit_events.c.hash == digest)
    return (await tx.execute(stmt.limit(1))).scalar_one_or_none()


async def prunable_heads(tx: Tx, before: float) -> list[ChainHead]:
    """The heads of the chains whose first event left is older than ``before``."""
    e = audit_events.c

    def first_left_older(chain_match: ColumnElement[bool]) -> Select[Any]:
        return (
            select(*_HEAD_COLUMNS)
            .join(audit_events, chain_match & (e.seq == audit_heads.c.pruned_seq + 1))
            .where(e.at < before)
        )

    environments = first_left_older(e.environment_id == audit_heads.c.chain)
    server = first_left_older(e.environment_id.is_(None) & (audit_heads.c.chain == SERVER_CHAIN))
    return [_head(r) for r in await tx.execute(union_all(environments, server))]


async def prune_chain(tx: Tx, head: ChainHead, before: float, *, limit: int, now: float) -> int:
    """Delete up to ``limit`` events from the start of the chain, stopping at the first one not
    older than ``before``, and record in the head how far it is pruned; how many went.

    Only a start is deleted, never a hole: an old event behind a newer one (clocks of two
    nodes, a slow transaction) stays until the events before it go.
    """
    e = audit_events.c
    upper = head.pruned_seq + limit
    first_kept = await tx.execute(
        select(func.min(e.seq)).where(
            _in_chain(head.chain), e.seq > head.pruned_seq, e.seq <= upper, e.at >= before
        )
    )
    kept = first_kept.scalar_one_or_none()
    through = kept - 1 if kept is not None else min(upper, head.seq)
    last = await tx.execute(select(e.hash).where(_in_chain(head.chain), e.seq == through))
    last_hash = last.scalar_one_or_none()
    if through <= head.pruned_seq or last_hash is None:
        return 0  # nothing old, or a missing event: `twostep audit verify` names that
    # The head first: a concurrent purge (another worker) that moved it already wins, and
    # this one deletes nothing.
    moved = await tx.execute(
        update(audit_heads)
        .where(audit_heads.c.chain == head.chain, audit_heads.c.pruned_seq == head.pruned_seq)
        .values(pruned_seq=through, pruned_hash=last_hash, pruned_at=now)
    )
    if moved.rowcount != 1:
        return 0
    gone = await tx.execute(
        delete(audit_events).where(_in_chain(head.chain), e.seq > head.pruned_seq, e.seq <= through)
    )
    return int(gone.rowcount)
