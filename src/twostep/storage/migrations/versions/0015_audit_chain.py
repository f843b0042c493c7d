"""audit trail hash chain: each event's place, previous hash and hash; a head row per chain

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 19:00:00

The events already recorded are chained here, per environment in (at, id) order, with the same
hash the server computes for new ones.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from twostep.storage.audit_chain import GENESIS, event_body, link_hash

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_events = sa.table(
    "audit_events",
    sa.column("id", sa.BigInteger),
    sa.column("at", sa.Double),
    sa.column("environment_id", sa.String),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("user_id", sa.String),
    sa.column("outcome", sa.String),
    sa.column("ip", sa.String),
    sa.column("details", sa.JSON),
    sa.column("seq", sa.BigInteger),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
_heads = sa.table(
    "audit_heads",
    sa.column("chain", sa.String),
    sa.column("seq", sa.BigInteger),
    sa.column("hash", sa.String),
    sa.column("pruned_seq", sa.BigInteger),
    sa.column("pruned_hash", sa.String),
)
_SET_LINK = (
    sa.update(_events)
    .where(_events.c.id == sa.bindparam("row_id"))
    .values(
        seq=sa.bindparam("row_seq"),
        prev_hash=sa.bindparam("row_prev"),
        hash=sa.bindparam("row_hash"),
    )
)


def _chain(bind: sa.Connection, environment_id: str | None) -> None:
    """Chain one environment's events (None: the server's), a batch of rows at a time."""
    e = _events.c
    in_chain = (
        e.environment_id.is_(None) if environment_id is None else e.environment_id == environment_id
    )
    seq, prev, after = 0, GENESIS, None
    while True:
        stmt = sa.select(_events).where(in_chain).order_by(e.at, e.id).limit(_BATCH)
        if after is not None:
            stmt = stmt.where(sa.or_(e.at > after[0], sa.and_(e.at == after[0], e.id > after[1])))
        rows = bind.execute(stmt).all()
        if not rows:
            break
        links: list[dict[str, Any]] = []
        for r in rows:
            seq += 1
            body = event_body(
                at=r.at,
                actor=r.actor,
                action=r.action,
                user_id=r.user_id,
                outcome=r.outcome,
                ip=r.ip,
                details=r.details,
            )
            digest = link_hash(prev, body)
            links.append({"row_id": r.id, "row_seq": seq, "row_prev": prev, "row_hash": digest})
            prev = digest
        bind.execute(_SET_LINK, links)
        after = (rows[-1].at, rows[-1].id)
    bind.execute(
        sa.insert(_heads).values(
            chain=environment_id or "", seq=seq, hash=prev, pruned_seq=0, pruned_hash=GENESIS
        )
    )


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("pruned_seq", sa.BigInteger(), nullable=False),
        sa.Column("pruned_hash", sa.String(length=64), nullable=False),
        sa.Column("pruned_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_heads")),
    )
    bind = op.get_bind()
    environments = bind.execute(sa.select(_events.c.environment_id).distinct()).scalars().all()
    for environment_id in environments:
        _chain(bind, environment_id)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(
            "ix_audit_events_environment_seq", ["environment_id", "seq"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_environment_seq")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_table("audit_heads")
