"""The audit trail: each event appended to its environment's hash chain as it is recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable

from twostep.storage.audit_chain import GENESIS, event_body, link_hash
from twostep.storage.db import Tx
from twostep.storage.tables import audit_events, audit_heads

__all__ = [
    "SERVER_CHAIN",
    "AuditEvent",
    "AuditFilter",
    "StatementRunner",
    "append_event",
    "chain_of",
    "content_of",
    "list_events",
    "record_event",
    "stored_event",
]

# The chain of the events that belong to no environment (the server's own).
SERVER_CHAIN = ""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: float
    environment_id: str | None
    actor: str
    action: str
    user_id: str | None
    outcome: str
    ip: str | None
    details: dict[str, Any] | None = None
    # The row's id once stored (0 before): with ``at``, where a page of the trail ends.
    id: int = 0
    # Its place in the environment's chain, the previous event's hash and its own (once stored).
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events of an environment: each field set narrows; ``since`` inclusive, ``until``
    exclusive; ``before`` a position ``(at, id)``: only events older than it (a cursor)."""

    user_id: str | None = None
    action: str | None = None
    since: float | None = None
    until: float | None = None
    before: tuple[float, int] | None = None


def chain_of(environment_id: str | None) -> str:
    """The key of the chain an event of this environment (None: the server's) belongs to."""
    return environment_id or SERVER_CHAIN


# Recording an event is these three statements, in this order (the hot path: every code check
# records one), or on PostgreSQL the one of _append_in_one that does all three. The claim takes
# the next place and the previous hash from the chain's head row and keeps that row locked
# until commit, so concurrent writers of one chain queue there and can neither fork it nor
# leave a gap; a rollback gives the place back. The first event of a chain creates the row.
def _claim_head(dialect: Any) -> Any:
    stmt = dialect.insert(audit_heads).values(
        chain=bindparam("claim_chain"),
        seq=1,
        hash=GENESIS,
        pruned_seq=0,
        pruned_hash=GENESIS,
    )
    return stmt.on_conflict_do_update(
        index_elements=["chain"], set_={"seq": audit_heads.c.seq + 1}
    ).returning(audit_heads.c.seq, audit_heads.c.hash)


_CLAIM_HEAD = {"postgresql": _claim_head(postgresql), "sqlite": _claim_head(sqlite)}
# Every column but the id the database gives.
_EVENT_COLUMNS = tuple(c.name for c in audit_events.columns if c.name != "id")
_INSERT_EVENT = insert(audit_events).values({name: bindparam(name) for name in _EVENT_COLUMNS})
_ADVANCE_HEAD = (
    update(audit_heads)
    .where(audit_heads.c.chain == bindparam("head_chain"))
    .values(hash=bindparam("head_hash"))
)
# The columns of an event that its place in the chain sets (in this order), and the others:
# the event's own fields, by the same names.
_LINKED = ("seq", "prev_hash", "hash")
_GIVEN = tuple(name for name in _EVENT_COLUMNS if name not in _LINKED)


def _append_in_one() -> Any:
    """PostgreSQL: the three statements above as one, for a chain that has its head row.

    The head row is locked from the claim until commit, so every round trip after the claim
    is time the environment's other writers wait: here the claim, the link (PostgreSQL's own
    SHA-256 over the same bytes as ``link_hash``), the event and the head's new hash take one.
    No row comes back for a chain without a head yet: its first event takes the three.
    """
    head = audit_heads.c
    old = (
        select(head.chain, head.seq, head.hash)
        .where(head.chain == bindparam("claim_chain"))
        .with_for_update()
        .cte("claimed")
    )
    link = func.encode(
        func.sha256(
            func.convert_to(old.c.hash, "UTF8").op("||")(bindparam("body", type_=LargeBinary))
        ),
        "hex",
    )
    moved = (
        update(audit_heads)
        .where(head.chain == old.c.chain)
        .values(seq=old.c.seq + 1, hash=link)
        .returning(head.seq, head.hash, old.c.hash.label("prev_hash"))
        .cte("moved")
    )
    given = [bindparam(name, type_=audit_events.c[name].type) for name in _GIVEN]
    rows = select(*given, moved.c.seq, moved.c.prev_hash, moved.c.hash)
    return insert(audit_events).from_select([*_GIVEN, *_LINKED], rows).returning(audit_events.c.seq)


_APPEND_IN_ONE = _append_in_one()

# Runs one of the statements above with its parameters; the first row it returns, if any.
# ``record_event`` runs them through Core; ``storage.hot_path`` through the driver itself.
StatementRunner = Callable[[Executable, dict[str, Any]], Awaitable[Sequence[Any] | None]]


def content_of(event: AuditEvent) -> bytes:
    """The canonical bytes of the event's content, which its hash covers with the link."""
    return event_body(
        at=event.at,
        actor=event.actor,
        action=event.action,
        user_id=event.user_id,
        outcome=event.outcome,
        ip=event.ip,
        details=event.details,
    )


async def append_event(run: StatementRunner, dialect_name: str, event: AuditEvent) -> None:
    """Append ``event`` to its chain with ``run``, in the transaction ``run`` executes in."""
    # Everything but the link is computed before the claim: the head row stays locked until
    # commit, so the less that happens after it the shorter other writers wait.
    body = content_of(event)
    chain = chain_of(event.environment_id)
    fields = {name: getattr(event, name) for name in _GIVEN}
    if dialect_name == "postgresql":
        appended = await run(_APPEND_IN_ONE, {"claim_chain": chain, "body": body, **fields})
        if appended is not None:
            return
    head = await run(_CLAIM_HEAD[dialect_name], {"claim_chain": chain})
    assert head is not None  # an upsert ... RETURNING always returns its row
    seq, prev_hash = int(head[0]), str(head[1])
    digest = link_hash(prev_hash, body)
    await run(_INSERT_EVENT, {**fields, "seq": seq, "prev_hash": prev_hash, "hash": digest})
    await run(_ADVANCE_HEAD, {"head_chain": chain, "head_hash": digest})


async def record_event(tx: Tx, event: AuditEvent) -> None:
    """Append ``event`` to its chain, in the caller's transaction (through Core: the reference
    of ``storage.hot_path.record_event``)."""

    async def run(statement: Executable, parameters: dict[str, Any]) -> Sequence[Any] | None:
        result = await tx.execute(statement, parameters)
        return result.first() if result.returns_rows else None

    await append_event(run, tx.dialect.name, event)


def _matching(environment_id: str, f: AuditFilter) -> list[ColumnElement[bool]]:
    c = audit_events.c
    where = [c.environment_id == environment_id]
    if f.user_id is not None:
        where.append(c.user_id == f.user_id)
    if f.action is not None:
        where.append(c.action == f.action)
    if f.since is not None:
        where.append(c.at >= f.since)
    if f.until is not None:
        where.append(c.at < f.until)
    if f.before is not None:
        at, row_id = f.before
        where.append(or_(c.at < at, and_(c.at == at, c.id < row_id)))
    return where


def stored_event(row: Any) -> AuditEvent:
    """An event as read from its row."""
    return AuditEvent(
        row.at,
        row.environment_id,
        row.actor,
        row.action,
        row.user_id,
        row.outcome,
        row.ip,
        row.details,
        row.id,
        row.seq,
        row.prev_hash,
        row.hash,
    )


async def list_events(
    tx: Tx, environment_id: str, where: AuditFilter | None = None, *, limit: int = 100
) -> list[AuditEvent]:
    """Newest first by (time, id): a total order, so that a page ends at a stable position
    whatever is inserted meanwhile."""
    stmt = (
        select(audit_events)
        .where(*_matching(environment_id, where or AuditFilter()))
        .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        .limit(limit)
    )
    return [stored_event(r) for r in await tx.execute(stmt)]
