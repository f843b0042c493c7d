"""SQLAlchemy Core tables, a module per aggregate, on one metadata."""

from twostep.storage.tables.applications import applications
from twostep.storage.tables.audit import audit_events, audit_heads
from twostep.storage.tables.authenticators import authenticators, recovery_codes
from twostep.storage.tables.base import metadata, new_id
from twostep.storage.tables.bypass import bypass_codes
from twostep.storage.tables.devices import remembered_devices
from twostep.storage.tables.events import event_deliveries, events, webhook_endpoints
from twostep.storage.tables.journeys import journey_definitions, journey_sessions
from twostep.storage.tables.oauth import oauth_codes, oauth_families, oauth_tokens, signing_keys
from twostep.storage.tables.organizations import api_keys, environments, organizations
from twostep.storage.tables.sessions import user_sessions
from twostep.storage.tables.throttle import ip_failures, password_failures
from twostep.storage.tables.users import users

__all__ = [
    "api_keys",
    "applications",
    "audit_events",
    "audit_heads",
    "authenticators",
    "bypass_codes",
    "environments",
    "event_deliveries",
    "events",
    "ip_failures",
    "journey_definitions",
    "journey_sessions",
    "metadata",
    "new_id",
    "oauth_codes",
    "oauth_families",
    "oauth_tokens",
    "organizations",
    "password_failures",
    "recovery_codes",
    "remembered_devices",
    "signing_keys",
    "user_sessions",
    "users",
    "webhook_endpoints",
]
