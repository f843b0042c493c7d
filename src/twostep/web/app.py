"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.resources import files

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep import __version__
from twostep.journeys.runner import purge_expired
from twostep.logs import configure_logging
from twostep.oauth.purge import purge_expired as purge_oauth
from twostep.services.audit_anchors import anchor_periodically
from twostep.services.clock_skew import ClockSkewWatch
from twostep.services.event_delivery import run_worker as deliver_events
from twostep.services.metrics import mark_worker_exit
from twostep.services.organizations import PrincipalCache
from twostep.services.retention import purge_retained
from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.web import oauth, ops
from twostep.web.api import (
    admin_recovery,
    api_keys,
    applications,
    audit,
    devices,
    journey_runtime,
    journeys,
    locks,
    organization_admin,
    organizations,
    sessions,
    totp,
    totp_connection,
    users,
    webhooks,
)
from twostep.web.fast_lane import FastLane
from twostep.web.http_metrics import instrument_http
from twostep.web.openapi import install_openapi
from twostep.web.pages import admin as admin_pages
from twostep.web.pages import admin_devices as admin_device_pages
from twostep.web.pages import admin_recovery as admin_recovery_pages
from twostep.web.pages import admin_webhooks as admin_webhook_pages
from twostep.web.pages import auth as auth_pages
from twostep.web.pages import devices as device_pages
from twostep.web.problems import install_problem_handlers, problem_response
from twostep.web.request_id import RequestId
from twostep.web.runtime_state import RuntimeTexts, attach_runtime

__all__ = ["BodyLimit", "create_app"]

_log = structlog.get_logger("twostep.web")


_ROUTERS = (
    organizations.router,
    users.router,
    applications.router,
    api_keys.router,
    totp.router,
    admin_recovery.router,
    devices.router,
    locks.router,
    journeys.router,
    journey_runtime.router,
    sessions.router,
    audit.router,
    webhooks.router,
    organization_admin.router,
    totp_connection.router,
    ops.router,
    auth_pages.router,
    device_pages.router,
    oauth.router,
    admin_pages.router,
    admin_recovery_pages.router,
    admin_device_pages.router,
    admin_webhook_pages.router,
)


def create_app(settings: Settings | None = None, *, fast_lane: bool = True) -> FastAPI:
    """The Twostep ASGI app; the runtime (database, keys, texts) is built when it starts.

    ``fast_lane=False`` leaves out the lane of the code checks (web/fast_lane.py): the tests
    compare the answers of both apps."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="Twostep",
        version=__version__,
        description="Self-hosted authentication server built around TOTP two-factor authentication.",
        lifespan=_lifespan(settings),
        # No OpenTelemetry: the metrics are Prometheus's (/metrics) and the logs structlog's.
        # Switched on, FastAPI asks the global providers on every request whether to trace.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.principal_cache = PrincipalCache()
    install_problem_handlers(app)
    install_openapi(app)
    for router in _ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(files("twostep") / "web" / "static")), "static")
    if fast_lane:  # inside all the middlewares below, outside FastAPI's router
        app.add_middleware(FastLane)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Outside BodyLimit, so that every answer (its 413 too) speaks the operator's texts.
    app.add_middleware(RuntimeTexts)
    instrument_http(app)
    # Outside all others: their log lines and answers carry the request's id too.
    app.add_middleware(RequestId, access_log=settings.access_log)
    return app


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Build the runtime at start, purge periodically while serving, release all at the end."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = attach_runtime(app, settings)
        # This node's clock against the database server's: at start (readiness knows it before
        # the first request), then every minute.
        clock_skew = app.state.clock_skew = await ClockSkewWatch.start(runtime)
        purger = asyncio.create_task(_purge_periodically(runtime))
        # The outbox's delivery worker: every process runs one, claims keep them apart.
        deliverer = asyncio.create_task(deliver_events(runtime))
        # Audit chain heads to TWOSTEP_AUDIT_ANCHOR_FILE, when set (docs/audit-trail.md).
        anchorer = asyncio.create_task(anchor_periodically(runtime))
        # What exists now (modules, the app, its routes, the engine) lives as long as the
        # process: out of the collector's sight, so that its full passes, which otherwise
        # walk all of it and stall every request in flight for tens of ms, stay short.
        gc.freeze()
        try:
            yield
        finally:
            await clock_skew.stop()
            purger.cancel()
            deliverer.cancel()
            anchorer.cancel()
            try:
                await runtime.http.aclose()
            finally:
                await runtime.db.dispose()
                mark_worker_exit()

    return lifespan


async def _purge_periodically(runtime: Runtime, every_s: float = 60.0) -> None:
    """Forget expired journey and user sessions, OAuth codes and tokens once a minute (they
    are refused anyway), audit events past their retention and stale address counters."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await purge_expired(runtime)
            await purge_oauth(runtime)
            await purge_retained(runtime)
        except Exception:  # a busy database now is no reason to stop purging later
            _log.warning("purge.failed", exc_info=True)


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with a 413 problem before anyone parses them.

    A declared Content-Length is checked up front; a chunked body is read (up to the limit)
    before the app sees it, so that the refusal is ours and not a parse error downstream.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await _too_large(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        Request(scope, receive),
        status=413,
        code="payload_too_large",
        title="Payload too large",
        msgid="The request body is too large.",
    )
    await response(scope, receive, send)
