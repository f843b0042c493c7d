"""One-time bypass codes an admin issues for a user who lost their authenticator."""

from sqlalchemy import Column, Double, ForeignKey, String, Table

from twostep.storage.tables.base import metadata

__all__ = ["bypass_codes"]

bypass_codes = Table(
    "bypass_codes",
    metadata,
    Column("id", String(36), primary_key=True),
    # At most one per user: issuing a new one replaces the old.
    Column(
        "user_id",
        String(36),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    # A keyed hash (HMAC-SHA256 under the server pepper) of the canonical code.
    Column("code_hash", String(64), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("issued_by", String(100), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
)
