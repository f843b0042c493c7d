"""Events and their delivery (issue 12): the outbox, the endpoints that subscribe to it, and
one delivery row per event and endpoint that the delivery workers claim with a lease."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from twostep.storage.tables.base import environment_id_column, metadata

__all__ = ["event_deliveries", "events", "webhook_endpoints"]

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    environment_id_column(index=True),
    Column("url", String(2048), nullable=False),
    # The event types it receives; an empty list receives every type.
    Column("event_types", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # Why it was switched off by the server ("failing"), None when on or switched off by hand.
    Column("disabled_reason", String(32), nullable=True),
    # The whsec_ secret, sealed by the server's SecretBox (the row id is the associated data).
    Column("secret_key_id", String(32), nullable=False),
    Column("secret", LargeBinary, nullable=False),
    # The secret before the last rotation: it still signs until ``previous_until``.
    Column("previous_key_id", String(32), nullable=True),
    Column("previous_secret", LargeBinary, nullable=True),
    Column("previous_until", Double, nullable=True),
    # When its deliveries started failing without a success since (None when healthy).
    Column("failing_since", Double, nullable=True),
    Column("created_at", Double, nullable=False),
)

events = Table(
    "events",
    metadata,
    # Also the ``webhook-id`` of every delivery: a receiver keys its idempotency on it.
    Column("id", String(40), primary_key=True),
    environment_id_column(index=True),
    Column("type", String(40), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
)

event_deliveries = Table(
    "event_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("event_id", String(40), ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column(
        "endpoint_id",
        String(36),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # "pending" until a 2xx answer ("delivered") or the retry window ends ("failed").
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    # Set while one worker posts it: nobody else claims it until then (a dead worker's claim
    # lapses and the delivery is tried again: at least once).
    Column("busy_until", Double, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(64), nullable=True),
    Column("last_attempt_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Index("ix_event_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_event_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
    Index("ix_event_deliveries_event_id", "event_id"),
)
