"""The audit trail: who did what, when, from where, with what outcome."""

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

__all__ = ["audit_events"]

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
    Index("ix_audit_events_environment_at", "environment_id", "at"),
    Index("ix_audit_events_user", "user_id"),
)
