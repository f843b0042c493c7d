"""End users of an environment."""

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from twostep.storage.tables.base import environment_id_column, metadata

__all__ = ["users"]

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    environment_id_column(),
    Column("email", String(320), nullable=True),
    Column("username", String(150), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("password_hash", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    # When the user last spent a recovery code: the once-per-N-hours rule claims this row.
    Column("recovery_used_at", Double, nullable=True),
    # Lock pairing (spec 3.13): paired when set; while closed, every login is refused.
    Column("lock_paired_at", Double, nullable=True),
    Column("lock_closed", Boolean, nullable=False, server_default=false()),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    # Email, username and phone folded (case and accents, see ``repositories.users.fold``),
    # one per line: what ``?q=`` searches, alike on SQLite (whose lower() is ASCII-only) and PG.
    Column("search_key", Text, nullable=True),
    UniqueConstraint("environment_id", "email"),
    UniqueConstraint("environment_id", "username"),
    Index("ix_users_environment_created", "environment_id", "created_at"),
)
