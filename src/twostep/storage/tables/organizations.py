"""Organizations (tenants), their two environments, and API keys."""

from sqlalchemy import JSON, Column, Double, ForeignKey, String, Table, Text, UniqueConstraint

from twostep.storage.tables.base import metadata

__all__ = ["api_keys", "environments", "organizations"]

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("domain", String(63), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email_domains", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "organization_id",
        String(36),
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(16), nullable=False),
    # JSON text of the auth config patches applied so far; parsed (and cached) by policy.
    Column("auth_config", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("organization_id", "name"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    # NULL: a server-admin key.
    Column(
        "environment_id",
        String(36),
        ForeignKey("environments.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("key_hash", String(64), nullable=False, unique=True),
    # The key's name, as its owner calls it.
    Column("label", String(100), nullable=False),
    # The first characters of the key, to recognise it in a list (NULL for keys made before
    # prefixes were kept): never enough to use it.
    Column("prefix", String(24), nullable=True),
    Column("created_at", Double, nullable=False),
    # Noted at most about once a minute per key, not on every request.
    Column("last_used_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
)
