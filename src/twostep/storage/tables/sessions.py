"""Sessions of signed-in users: what a finished login journey issues (a bearer token)."""

from sqlalchemy import JSON, Column, Double, ForeignKey, String, Table

from twostep.storage.tables.base import environment_id_column, metadata

__all__ = ["user_sessions"]

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    environment_id_column(),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the token: the token itself is shown once, to the client that logged in.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False),
    # How the user authenticated (RFC 8176 values: pwd, otp, recovery) and when.
    Column("amr", JSON, nullable=False),
    Column("auth_time", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
)
