"""The audit trail, and the failure counters of throttling: per address and per account."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from twostep.storage.tables.base import metadata

__all__ = ["audit_events", "ip_failures", "password_failures"]

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

# Wrong guesses of an end user's address, per environment: one tenant's traffic never
# throttles another's (spec 3b.4). No foreign key: a counter outlives nothing worth keeping.
ip_failures = Table(
    "ip_failures",
    metadata,
    Column("environment_id", String(36), nullable=False),
    Column("ip", String(45), nullable=False),
    # Start of the one-minute window, in epoch minutes.
    Column("minute", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("environment_id", "ip", "minute"),
)

# Consecutive wrong passwords of one account across journeys (spec 3b.4). ``subject`` is
# ``user:<id>``, or a keyed hash of an identifier that names no user, so that an unknown
# username is locked exactly like a known one and tells nothing.
password_failures = Table(
    "password_failures",
    metadata,
    Column("environment_id", String(36), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked_until", Double, nullable=False),
    Column("last_failure_at", Double, nullable=False),
    PrimaryKeyConstraint("environment_id", "subject"),
    Index("ix_password_failures_environment_last", "environment_id", "last_failure_at"),
)
