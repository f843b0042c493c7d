"""Applications (OAuth clients) of an environment; each environment has a default one."""

from sqlalchemy import JSON, Boolean, Column, Double, Integer, String, Table, false, text, true

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
    # SHA-256 hex of the client secret (256 random bits, shown once); public clients have none.
    Column("client_secret_hash", String(64), nullable=True),
    # The server defaults are what the rows from before migration 0006 (the default
    # applications) took: a public, first-party client of the hosted pages.
    Column("redirect_uris", JSON, nullable=False, server_default=text("'[]'")),
    Column(
        "grant_types",
        JSON,
        nullable=False,
        server_default=text("""'["authorization_code", "refresh_token"]'"""),
    ),
    Column("secret_required", Boolean, nullable=False, server_default=false()),
    # Lifetime of the access tokens issued to this client, in seconds.
    Column("access_token_expiration", Integer, nullable=False, server_default=text("3600")),
    Column("token_format", String(8), nullable=False, server_default=text("'jwt'")),
    Column("refresh_token", Boolean, nullable=False, server_default=true()),
    Column("first_party", Boolean, nullable=False, server_default=true()),
    Column("updated_at", Double, nullable=True),
)
