"""Remembered devices: browsers a user trusted for a number of days after a code (issue 12)."""

from sqlalchemy import Column, Double, ForeignKey, String, Table

from twostep.storage.tables.base import environment_id_column, metadata

__all__ = ["remembered_devices"]

remembered_devices = Table(
    "remembered_devices",
    metadata,
    Column("id", String(36), primary_key=True),
    environment_id_column(),
    Column(
        "user_id",
        String(36),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # SHA-256 of the cookie's token: the token itself lives only in the browser.
    Column("token_hash", String(64), nullable=False, unique=True),
    # Browser family and operating system ("Firefox on Linux"), never the whole header.
    Column("agent", String(80), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
)
