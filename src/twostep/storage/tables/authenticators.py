"""TOTP authenticators (one per user and application) and their recovery codes."""

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from twostep.storage.tables.base import metadata

__all__ = ["authenticators", "recovery_codes"]

authenticators = Table(
    "authenticators",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column(
        "application_id",
        String(36),
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("status", String(16), nullable=False),
    # AES-GCM nonce + ciphertext of the raw secret, and the id of the key that sealed it.
    Column("key_id", String(32), nullable=False),
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("algorithm", String(8), nullable=False),
    Column("digits", Integer, nullable=False),
    Column("period", Integer, nullable=False),
    # The newest time step accepted: the replay floor. -1 before any.
    Column("last_step", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    # The learned clock drift: the window centre in steps, and the offsets of the last
    # accepted codes from the server's step ("-1,-1,0", oldest first).
    Column("drift_steps", Integer, nullable=False, server_default="0"),
    Column("recent_offsets", String(32), nullable=False, server_default=""),
    Column("locked_until", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("activated_at", Double, nullable=True),
    UniqueConstraint("user_id", "application_id"),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "authenticator_id",
        String(36),
        ForeignKey("authenticators.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # HMAC-SHA256 of the canonical code under the server pepper.
    Column("code_hash", String(64), nullable=False),
    Column("used_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Index("ix_recovery_codes_authenticator_hash", "authenticator_id", "code_hash"),
)
