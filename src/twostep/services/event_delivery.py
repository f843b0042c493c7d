"""Delivering the outbox (issue 12): each server process runs ``run_worker``.

A worker claims due deliveries with a lease in one SQL statement (as journeys claim their
sessions), so that of several processes exactly one posts a given delivery at a time; a
process killed mid-post leaves a claim that lapses after ``LEASE_S`` and the delivery is
tried again: at least once, the event id as ``webhook-id`` for the receiver to drop repeats.

Each attempt is one POST through ``outbound.post`` (public addresses only, or the networks
``TWOSTEP_WEBHOOK_ALLOWED_NETWORKS`` allows; no redirects), signed per Standard Webhooks with
every secret the endpoint has now. Any answer but a 2xx is a failure: the next attempt waits
``TWOSTEP_EVENT_RETRY_BASE_S`` doubled per attempt (at most an hour), until
``TWOSTEP_EVENT_RETRY_WINDOW_S`` after the event, when the delivery is marked failed. An
endpoint that has failed that long without a success is disabled.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import structlog
from standardwebhooks import Webhook

from twostep.clock import to_datetime
from twostep.services import outbound
from twostep.services.runtime import Runtime
from twostep.services.webhook_endpoints import secrets_of
from twostep.storage.repositories import events as repo
from twostep.storage.repositories.events import DeliveryRecord, EventRecord
from twostep.storage.repositories.webhook_endpoints import (
    EndpointRecord,
    disable_failing,
    note_health,
)

__all__ = [
    "LEASE_S",
    "MAX_PAUSE_S",
    "TIMEOUT_S",
    "body_of",
    "deliver_due",
    "pause_after",
    "run_worker",
    "signed_headers",
]

TIMEOUT_S: Final = 10.0
# Longer than one attempt can take: a claim outlives its post unless the process died.
LEASE_S: Final = 60.0
MAX_PAUSE_S: Final = 3600.0
_BATCH = 20
_DISABLED = "endpoint_disabled"

_log = structlog.get_logger("twostep.events")


def body_of(event: EventRecord) -> bytes:
    """The JSON every endpoint receives: type, timestamp and data (Standard Webhooks)."""
    document = {
        "type": event.type,
        "timestamp": to_datetime(event.created_at).isoformat(),
        "data": event.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(secrets: list[str], msg_id: str, body: bytes, now: float) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (one ``v1,`` entry per
    secret, space-separated)."""
    timestamp = datetime.fromtimestamp(int(now), tz=UTC)
    text = body.decode("utf-8")
    signatures = [Webhook(secret).sign(msg_id, timestamp, text) for secret in secrets]
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": " ".join(signatures),
    }


def pause_after(rt: Runtime, attempts: int) -> float:
    """The wait before the next attempt, after ``attempts`` failed ones."""
    return float(min(rt.settings.event_retry_base_s * 2 ** (attempts - 1), MAX_PAUSE_S))


async def _post(
    rt: Runtime, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int | None, str | None]:
    """The answer's status, or the kind of error that stood in the way."""
    try:
        async with outbound.post(
            rt, url, content=body, headers=headers, timeouts=httpx.Timeout(TIMEOUT_S)
        ) as response:
            return response.status_code, None
    except outbound.DestinationRefused as exc:
        return None, exc.code
    except httpx.HTTPError as exc:
        # The exception's text may quote the URL (and its query): only its type.
        return None, type(exc).__name__


def _outcome(
    rt: Runtime, delivery: DeliveryRecord, status: int | None, error: str | None, now: float
) -> dict[str, Any]:
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status": status,
        "last_error": error,
        "last_attempt_at": now,
    }
    end = delivery.created_at + rt.settings.event_retry_window_s
    if status is not None and 200 <= status < 300:
        values["status"] = "delivered"
    elif now >= end:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = min(now + pause_after(rt, attempts), end)
    return values


async def _attempt(
    rt: Runtime, event: EventRecord, endpoint: EndpointRecord
) -> tuple[int | None, str | None]:
    if not endpoint.enabled:
        return None, _DISABLED
    now = rt.clock.now()
    body = body_of(event)
    headers = signed_headers(secrets_of(rt, endpoint, now), event.id, body, now)
    return await _post(rt, endpoint.url, body, headers)


async def _note(rt: Runtime, endpoint: EndpointRecord, *, ok: bool, now: float) -> bool:
    """Note how the endpoint fared; True if it was
    disabled now for failing the whole retry window."""
    async with rt.db.transaction() as tx:
        await note_health(tx, endpoint.id, ok=ok, now=now)
        before = now - rt.settings.event_retry_window_s
        return not ok and await disable_failing(tx, endpoint.id, failing_before=before)


async def _deliver(
    rt: Runtime, delivery: DeliveryRecord, event: EventRecord, endpoint: EndpointRecord
) -> None:
    status, error = await _attempt(rt, event, endpoint)
    now = rt.clock.now()
    values = _outcome(rt, delivery, status, error, now)
    if error == _DISABLED:
        values["status"] = "failed"
    ok = values.get("status") == "delivered"
    async with rt.db.transaction() as tx:
        await repo.record_attempt(tx, delivery.id, values)
    if endpoint.enabled and await _note(rt, endpoint, ok=ok, now=now):
        _log.warning("webhook.endpoint_disabled", endpoint_id=endpoint.id)
    log = _log.info if ok else _log.warning
    log(
        "event.delivery",
        event_id=event.id,
        event_type=event.type,
        host=urlsplit(endpoint.url).hostname,
        attempt=values["attempts"],
        status=status,
        error=error,
        outcome=values.get("status", "retry"),
    )


async def deliver_due(rt: Runtime, *, limit: int = _BATCH) -> int:
    """Claim and post up to ``limit`` due deliveries, one after the other; how many."""
    async with rt.db.transaction() as tx:
        due = await repo.due_deliveries(tx, now=rt.clock.now(), limit=limit)
    done = 0
    for delivery_id in due:
        async with rt.db.transaction() as tx:
            claimed = await repo.claim_delivery(
                tx, delivery_id, now=rt.clock.now(), lease_s=LEASE_S
            )
            loaded = await repo.load_delivery(tx, delivery_id) if claimed else None
        if loaded is not None:
            await _deliver(rt, *loaded)
            done += 1
    return done


async def run_worker(rt: Runtime) -> None:
    """Deliver what is due, then wait ``TWOSTEP_EVENT_POLL_S`` when nothing was; forever."""
    while True:
        done = 0
        try:
            done = await deliver_due(rt)
        except Exception:  # a busy database now is no reason to stop delivering later
            _log.warning("event.worker_failed", exc_info=True)
        if done == 0:
            await asyncio.sleep(rt.settings.event_poll_s)
