"""Webhook endpoints of an environment (issue 12): where its events go.

Each endpoint has a ``whsec_`` secret (Standard Webhooks: base64 of 24 random bytes), shown
when the endpoint is made and when it is rotated, and sealed by the server's ``SecretBox``
otherwise. A rotation keeps the old secret signing beside the new one for
``TWOSTEP_WEBHOOK_SECRET_OVERLAP_S``, so a receiver can switch without losing a delivery.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twostep.errors import NotFound, ValidationFailed
from twostep.services import outbound
from twostep.services.audit import audit
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories import events as events_repo
from twostep.storage.repositories import webhook_endpoints as repo
from twostep.storage.repositories.events import DeliveryRecord, DeliveryStatus
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.webhook_endpoints import EndpointRecord
from twostep.storage.tables import new_id

__all__ = [
    "SECRET_PREFIX",
    "EndpointChange",
    "IssuedEndpoint",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "rotate_secret",
    "secrets_of",
    "update_endpoint",
]

_UNKNOWN = "Unknown webhook endpoint."
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix Standard Webhooks gives secrets)


@dataclass(frozen=True, slots=True)
class IssuedEndpoint:
    """An endpoint and its secret, which this answer alone shows."""

    endpoint: EndpointRecord
    secret: str


@dataclass(frozen=True, slots=True)
class EndpointChange:
    """What a PATCH changes: the fields given, None for those left as they are."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    enabled: bool | None = None


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _sealed(rt: Runtime, endpoint_id: str, secret: str) -> tuple[str, bytes]:
    return rt.box.encrypt(secret.encode("ascii"), aad=endpoint_id.encode("ascii"))


def secrets_of(rt: Runtime, endpoint: EndpointRecord, now: float) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one while its
    overlap lasts."""
    aad = endpoint.id.encode("ascii")
    found = [rt.box.decrypt(endpoint.secret_key_id, endpoint.secret, aad=aad).decode("ascii")]
    if (
        endpoint.previous_key_id is not None
        and endpoint.previous_secret is not None
        and endpoint.previous_until is not None
        and endpoint.previous_until > now
    ):
        old = rt.box.decrypt(endpoint.previous_key_id, endpoint.previous_secret, aad=aad)
        found.append(old.decode("ascii"))
    return found


async def _check_url(rt: Runtime, url: str) -> None:
    """Refuse (422 on ``url``) an address no call may reach (spec 3b.6)."""
    try:
        await outbound.check_destination(rt.settings, url)
    except outbound.DestinationRefused as exc:
        error = {"loc": ["body", "url"], "msg": exc.reason, "type": "value_error"}
        raise ValidationFailed(errors=[error], rules={("body", "url"): exc.code}) from None


async def create_endpoint(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, change: EndpointChange
) -> IssuedEndpoint:
    assert change.url is not None
    await _check_url(rt, change.url)
    endpoint_id, secret = new_id(), _new_secret()
    key_id, sealed = _sealed(rt, endpoint_id, secret)
    values: dict[str, Any] = {
        "id": endpoint_id,
        "environment_id": env.id,
        "url": change.url,
        "event_types": list(change.event_types or ()),
        "enabled": True if change.enabled is None else change.enabled,
        "secret_key_id": key_id,
        "secret": sealed,
        "created_at": rt.clock.now(),
    }
    async with rt.db.transaction() as tx:
        endpoint = await repo.insert_endpoint(tx, values)
        details = {"endpoint_id": endpoint_id, "url_host": _host(change.url)}
        await audit(tx, rt, actor, "webhook.create", "ok", environment_id=env.id, details=details)
    return IssuedEndpoint(endpoint, secret)


def _host(url: str) -> str | None:
    # Only the host is audited: a URL's path or query may carry a token of the receiver's.
    return urlsplit(url).hostname


async def list_endpoints(rt: Runtime, env: EnvironmentRecord) -> list[EndpointRecord]:
    async with rt.db.transaction() as tx:
        return await repo.list_endpoints(tx, env.id)


async def get_endpoint(rt: Runtime, env: EnvironmentRecord, endpoint_id: str) -> EndpointRecord:
    async with rt.db.transaction() as tx:
        found = await repo.get_endpoint(tx, env.id, endpoint_id)
    if found is None:
        raise NotFound(_UNKNOWN)
    return found


def _changes(change: EndpointChange) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if change.url is not None:
        values["url"] = change.url
    if change.event_types is not None:
        values["event_types"] = list(change.event_types)
    if change.enabled is not None:
        values["enabled"] = change.enabled
        # Switched on again by hand: its failures so far are forgiven.
        values["disabled_reason"] = None
        values["failing_since"] = None
    return values


async def update_endpoint(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, endpoint_id: str, change: EndpointChange
) -> EndpointRecord:
    if change.url is not None:
        await _check_url(rt, change.url)
    values = _changes(change)
    async with rt.db.transaction() as tx:
        found = await repo.update_endpoint(tx, env.id, endpoint_id, values)
        if found is not None:
            details = {"endpoint_id": endpoint_id, "fields": sorted(values)}
            await audit(
                tx, rt, actor, "webhook.update", "ok", environment_id=env.id, details=details
            )
    if found is None:
        raise NotFound(_UNKNOWN)
    return found


async def delete_endpoint(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, endpoint_id: str
) -> None:
    async with rt.db.transaction() as tx:
        deleted = await repo.delete_endpoint(tx, env.id, endpoint_id)
        if deleted:
            details = {"endpoint_id": endpoint_id}
            await audit(
                tx, rt, actor, "webhook.delete", "ok", environment_id=env.id, details=details
            )
    if not deleted:
        raise NotFound(_UNKNOWN)


async def rotate_secret(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, endpoint_id: str
) -> IssuedEndpoint:
    """A new secret; the current one keeps signing beside it for the overlap."""
    current = await get_endpoint(rt, env, endpoint_id)
    secret = _new_secret()
    key_id, sealed = _sealed(rt, endpoint_id, secret)
    values = {
        "secret_key_id": key_id,
        "secret": sealed,
        "previous_key_id": current.secret_key_id,
        "previous_secret": current.secret,
        "previous_until": rt.clock.now() + rt.settings.webhook_secret_overlap_s,
    }
    async with rt.db.transaction() as tx:
        found = await repo.update_endpoint(tx, env.id, endpoint_id, values)
        if found is not None:
            details = {"endpoint_id": endpoint_id}
            await audit(
                tx, rt, actor, "webhook.rotate_secret", "ok", environment_id=env.id, details=details
            )
    if found is None:
        raise NotFound(_UNKNOWN)
    return IssuedEndpoint(found, secret)


async def list_deliveries(
    rt: Runtime,
    env: EnvironmentRecord,
    endpoint_id: str,
    *,
    limit: int,
    status: DeliveryStatus | None = None,
) -> list[DeliveryRecord]:
    """The endpoint's delivery log, newest first."""
    await get_endpoint(rt, env, endpoint_id)
    async with rt.db.transaction() as tx:
        return await events_repo.list_deliveries(tx, endpoint_id, limit=limit, status=status)
