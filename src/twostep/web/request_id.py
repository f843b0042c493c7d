"""``X-Request-Id``: one id per request, in its answer, its log lines and its problem bodies."""

from __future__ import annotations

import logging
import re
import secrets
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEADER", "RequestId", "request_id_of"]

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()
# Printable ASCII without spaces, at most 128 characters: safe to echo and to log as it is.
_SANE = re.compile(rb"[!-~]{1,128}")
_log = structlog.get_logger("twostep.http")
_stdlib_log = logging.getLogger("twostep.http")


def request_id_of(scope: Scope) -> str | None:
    """The id the middleware gave this request (``None`` outside it)."""
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


class RequestId:
    """Take a sane ``X-Request-Id`` from the request or make one; echo it in the answer;
    bind it to every log line of the request; log the request when asked to.

    ``access_log`` logs each request at info level, else at debug level.
    """

    def __init__(self, app: ASGIApp, access_log: bool = False) -> None:
        self.app = app
        self.level = logging.INFO if access_log else logging.DEBUG
        self.level_name = logging.getLevelName(self.level).lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming(scope) or secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER_KEY, rid.encode())]
            await send(message)

        # Each request runs in its own task, so the binding ends with it. It is not undone
        # when the app raises: the 500 handler, outside this middleware, logs with it.
        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        await self.app(scope, receive, send_with_id)
        if _stdlib_log.isEnabledFor(self.level):
            getattr(_log, self.level_name)(
                "http.request",
                method=scope["method"],
                path=scope["path"],  # never the query string: it may carry a token
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        structlog.contextvars.reset_contextvars(**tokens)


def _incoming(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None
