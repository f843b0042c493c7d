"""Applications (OAuth clients) of an environment; each environment has a default one."""

from sqlalchemy import JSON, Boolean, Column, Double, String, Table

from twostep.storage.tables.base import environment_id_column, metadata

__all__ = ["applications"]

applications = Table(
    "applications",
    metadata,
    Column("id", String(36), primary_key=True),
    environment_id_column(index=True),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("is_default", Boolean, nullable=False),
    # Optional TOTP parameters (algorithm, digits, period) for this application's authenticators.
    Column("totp_override", JSON, nullable=True),
    Column("created_at", Double, nullable=False),
)
