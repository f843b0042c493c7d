"""The failure counters of throttling: per address and per account (spec 3b.4)."""

from sqlalchemy import (
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

__all__ = ["ip_failures", "password_failures"]

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
