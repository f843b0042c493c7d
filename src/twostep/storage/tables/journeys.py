"""Journey definitions: validated JSON graphs, versioned per environment and name."""

from sqlalchemy import (
    JSON,
    Column,
    Double,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from twostep.storage.tables.base import metadata

__all__ = ["journey_definitions"]

journey_definitions = Table(
    "journey_definitions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "environment_id",
        String(36),
        ForeignKey("environments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(64), nullable=False),
    # Every PUT adds a version; a running journey keeps the version it started with.
    Column("version", Integer, nullable=False),
    Column("definition", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("environment_id", "name", "version"),
)
