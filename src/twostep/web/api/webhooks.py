"""Webhook endpoints of an environment (issue 12): the events it sends, where, signed how,
and the log of what each endpoint was sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from twostep.services import webhook_endpoints as svc
from twostep.services.events import EventType
from twostep.storage.repositories.events import DeliveryRecord, DeliveryStatus
from twostep.storage.repositories.webhook_endpoints import EndpointRecord
from twostep.web.api.schemas import iso
from twostep.web.deps import ID_PATTERN, ScopeDep

__all__ = [
    "DeliveriesPage",
    "DeliveryOut",
    "EndpointCreate",
    "EndpointOut",
    "EndpointPatch",
    "EndpointSecretOut",
    "EndpointsPage",
    "create_webhook",
    "delete_webhook",
    "list_webhook_deliveries",
    "list_webhooks",
    "read_webhook",
    "rotate_webhook_secret",
    "router",
    "update_webhook",
]

router = APIRouter(prefix="/api/v1/org/{org}/webhooks", tags=["webhooks"])

# The answer that carries a secret must not be kept by a cache on the way.
_NO_STORE = {"Cache-Control": "no-store"}

_EndpointIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
_Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
_EventTypes = Annotated[list[EventType], Field(max_length=32)]
_EXAMPLE: dict[str, JsonValue] = {
    "url": "https://hooks.example.com/twostep",
    "event_types": ["totp.enrolled"],
}


class EndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [_EXAMPLE]}
    )

    url: _Url = Field(description="where events are posted: https, or a network the server allows")
    event_types: _EventTypes = Field(
        default_factory=list, description="the event types it receives; empty: every type"
    )
    enabled: bool = True


class EndpointPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"enabled": True}]}
    )

    url: _Url | None = None
    event_types: _EventTypes | None = None
    enabled: bool | None = Field(
        None, description="switching it on again also forgets its failures so far"
    )


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str] = Field(description="empty: every type")
    enabled: bool
    disabled_reason: str | None = Field(
        description="`failing` when the server switched it off after a day of failures"
    )
    failing_since: str | None
    previous_secret_until: str | None = Field(
        description="until when the secret before the last rotation still signs"
    )
    created_at: str | None

    @classmethod
    def of(cls, endpoint: EndpointRecord) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            failing_since=iso(endpoint.failing_since),
            previous_secret_until=iso(endpoint.previous_until),
            created_at=iso(endpoint.created_at),
        )


class EndpointSecretOut(EndpointOut):
    secret: str = Field(description="the `whsec_` signing secret; shown only in this answer")


class EndpointsPage(BaseModel):
    data: list[EndpointOut]


class DeliveryOut(BaseModel):
    id: str
    event_id: str = Field(description="the `webhook-id` the endpoint was sent")
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: str | None = Field(description="while pending")
    last_status: int | None = Field(description="the HTTP status of the last answer")
    last_error: str | None = Field(description="what stood in the way when no answer came")
    last_attempt_at: str | None
    created_at: str | None

    @classmethod
    def of(cls, d: DeliveryRecord) -> DeliveryOut:
        return cls(
            id=d.id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=iso(d.next_attempt_at) if d.status == "pending" else None,
            last_status=d.last_status,
            last_error=d.last_error,
            last_attempt_at=iso(d.last_attempt_at),
            created_at=iso(d.created_at),
        )


class DeliveriesPage(BaseModel):
    data: list[DeliveryOut]


def _change(body: EndpointCreate | EndpointPatch) -> svc.EndpointChange:
    types = None if body.event_types is None else tuple(body.event_types)
    return svc.EndpointChange(url=body.url, event_types=types, enabled=body.enabled)


def _with_secret(issued: svc.IssuedEndpoint, response: Response) -> EndpointSecretOut:
    response.headers.update(_NO_STORE)
    return EndpointSecretOut(**EndpointOut.of(issued.endpoint).model_dump(), secret=issued.secret)


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="createWebhook")
async def create_webhook(
    body: EndpointCreate, scope: ScopeDep, response: Response
) -> EndpointSecretOut:
    """A new endpoint for the environment's events; the answer carries its secret, shown this
    once. `422` for a URL no call may reach."""
    issued = await svc.create_endpoint(scope.rt, scope.actor, scope.env, _change(body))
    return _with_secret(issued, response)


@router.get("", operation_id="listWebhooks")
async def list_webhooks(scope: ScopeDep) -> EndpointsPage:
    """The environment's endpoints, oldest first; never a secret."""
    found = await svc.list_endpoints(scope.rt, scope.env)
    return EndpointsPage(data=[EndpointOut.of(e) for e in found])


@router.get("/{endpoint_id}", operation_id="readWebhook")
async def read_webhook(endpoint_id: _EndpointIdPath, scope: ScopeDep) -> EndpointOut:
    return EndpointOut.of(await svc.get_endpoint(scope.rt, scope.env, endpoint_id))


@router.patch("/{endpoint_id}", operation_id="updateWebhook")
async def update_webhook(
    endpoint_id: _EndpointIdPath, body: EndpointPatch, scope: ScopeDep
) -> EndpointOut:
    """Change the URL, the event filter or whether it is enabled."""
    found = await svc.update_endpoint(scope.rt, scope.actor, scope.env, endpoint_id, _change(body))
    return EndpointOut.of(found)


@router.delete(
    "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="deleteWebhook"
)
async def delete_webhook(endpoint_id: _EndpointIdPath, scope: ScopeDep) -> Response:
    """Delete the endpoint and its delivery log; what it was still owed is dropped."""
    await svc.delete_endpoint(scope.rt, scope.actor, scope.env, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{endpoint_id}/secret", operation_id="rotateWebhookSecret")
async def rotate_webhook_secret(
    endpoint_id: _EndpointIdPath, scope: ScopeDep, response: Response
) -> EndpointSecretOut:
    """A new secret, shown this once; the previous one keeps signing beside it until
    `previous_secret_until`."""
    issued = await svc.rotate_secret(scope.rt, scope.actor, scope.env, endpoint_id)
    return _with_secret(issued, response)


@router.get("/{endpoint_id}/deliveries", operation_id="listWebhookDeliveries")
async def list_webhook_deliveries(
    endpoint_id: _EndpointIdPath,
    scope: ScopeDep,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveriesPage:
    """The endpoint's delivery log, newest first: one entry per event it was sent."""
    found = await svc.list_deliveries(
        scope.rt, scope.env, endpoint_id, limit=limit, status=delivery_status
    )
    return DeliveriesPage(data=[DeliveryOut.of(d) for d in found])
