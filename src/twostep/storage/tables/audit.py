"""The audit trail: who did what, when, from where, with what outcome; and the head of each
environment's hash chain (docs/audit-trail.md)."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
)

from twostep.storage.tables.base import metadata

__all__ = ["audit_events", "audit_heads"]

audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", Double, nullable=False),
    # No foreign keys: the trail outlives what it speaks of.
    Column("environment_id", String(36), nullable=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("user_id", String(36), nullable=True),
    Column("outcome", String(30), nullable=False),
    Column("ip", String(45), nullable=True),
    Column("details", JSON, nullable=True),
    # The event's place in its environment's chain (1, 2, ...), the hash of the event before
    # it and its own: SHA-256 over that previous hash and the event's canonical form.
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_environment_at", "environment_id", "at"),
    Index("ix_audit_events_user", "user_id"),
    Index("ix_audit_events_environment_seq", "environment_id", "seq", unique=True),
)

# One row per chain: the environment's id, or "" for the server's events (no environment).
# Writers claim the next place here in one statement (its row lock orders them until commit);
# retention records here how far it pruned, so that a pruned start is not taken for tampering.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("chain", String(36), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("pruned_seq", BigInteger, nullable=False),
    Column("pruned_hash", String(64), nullable=False),
    Column("pruned_at", Double, nullable=True),
)
