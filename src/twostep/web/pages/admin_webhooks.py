"""The admin console's view of event webhooks (issue 12.1): the environment's endpoints and
each one's delivery log, read-only (endpoints are created and changed through the API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from twostep.errors import NotFound
from twostep.services.webhook_endpoints import get_endpoint, list_deliveries, list_endpoints
from twostep.storage.repositories.events import DeliveryRecord
from twostep.storage.repositories.webhook_endpoints import EndpointRecord
from twostep.web.deps import KeyIdPath, RuntimeDep
from twostep.web.pages.admin_session import iso_time, render_page, session_of, to_sign_in

__all__ = ["LOG_LENGTH", "router", "webhook_page", "webhooks_page"]

router = APIRouter(tags=["admin console"], include_in_schema=False)

# The newest deliveries the page shows; the API pages further back.
LOG_LENGTH = 50


def _endpoint(endpoint: EndpointRecord) -> dict[str, object]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": ", ".join(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason or "",
        "failing_since": iso_time(endpoint.failing_since),
        "created_at": iso_time(endpoint.created_at),
    }


def _delivery(delivery: DeliveryRecord) -> dict[str, object]:
    return {
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "answer": delivery.last_status if delivery.last_status is not None else "",
        "error": delivery.last_error or "",
        "last_attempt_at": iso_time(delivery.last_attempt_at),
        "created_at": iso_time(delivery.created_at),
    }


@router.get("/admin/webhooks")
async def webhooks_page(request: Request, rt: RuntimeDep) -> Response:
    """The environment's event endpoints, with their state."""
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    endpoints = await list_endpoints(rt, session.env)
    return render_page(
        request,
        "webhooks.html",
        session,
        section="webhooks",
        endpoints=[_endpoint(endpoint) for endpoint in endpoints],
    )


@router.get("/admin/webhooks/{endpoint_id}")
async def webhook_page(request: Request, rt: RuntimeDep, endpoint_id: KeyIdPath) -> Response:
    """One endpoint and its newest deliveries: what was sent, how often, what came back."""
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    try:
        endpoint = await get_endpoint(rt, session.env, endpoint_id)
        deliveries = await list_deliveries(rt, session.env, endpoint_id, limit=LOG_LENGTH)
    except NotFound:
        return render_page(
            request,
            "webhooks.html",
            session,
            section="webhooks",
            status=404,
            endpoints=[],
            unknown=True,
        )
    return render_page(
        request,
        "webhook.html",
        session,
        section="webhooks",
        endpoint=_endpoint(endpoint),
        deliveries=[_delivery(delivery) for delivery in deliveries],
    )
