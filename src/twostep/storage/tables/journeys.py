"""Journey definitions: validated JSON graphs, versioned per environment and name."""

from sqlalchemy import (
    JSON,
    Column,
    Double,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from twostep.storage.tables.base import environment_id_column, metadata

__all__ = ["journey_definitions", "journey_sessions"]

journey_definitions = Table(
    "journey_definitions",
    metadata,
    Column("id", String(36), primary_key=True),
    environment_id_column(),
    Column("name", String(64), nullable=False),
    # Every PUT adds a version; a running journey keeps the version it started with.
    Column("version", Integer, nullable=False),
    Column("definition", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("environment_id", "name", "version"),
)

journey_sessions = Table(
    "journey_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    environment_id_column(),
    Column("journey", String(64), nullable=False),
    # The definition version the session started with: publishing a new one does not move it.
    Column("version", Integer, nullable=False),
    # "active" until a Success or Rejection ends it.
    Column("status", String(16), nullable=False),
    # The runner's whole state as JSON (current step, variables, user id...): never pickled.
    Column("state", JSON, nullable=False),
    # Bumped by every advance: a submit names the sequence it read, so two cannot both advance.
    Column("seq", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
    # Set while one request works on the session: nobody else may claim it until then, so
    # a process that dies mid-answer blocks the session only for this lease.
    Column("busy_until", Double, nullable=True),
)
