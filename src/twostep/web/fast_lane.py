"""A lean lane for the code checks: ``POST .../totp/verify`` and ``.../totp/confirm``.

Why it exists: a code check is the hottest route of the server, and profiling it in process
showed FastAPI's own share of each request to be large next to the work itself: matching the
path against some 90 routes (the code checks sit deep in the list), solving the dependencies
(``get_scope``, path, query and body validation) and the exception and response wrappers.
This ASGI middleware recognises a well-formed code check itself and answers it with the same
calls the route makes: ``get_scope`` and the route's own endpoint function, the app's own
exception handlers for errors, the same serialization. Anything it cannot decide cheaply
(another content type, JSON that does not parse or validate, unknown or doubtful query
parameters, path parameters outside their patterns) goes on to the app unchanged, its body
replayed: the FastAPI route then answers, with its validation errors.

The FastAPI routes stay the reference: they are what the OpenAPI document describes, and the
lane must answer exactly what they answer (``tests/e2e/test_fast_lane.py`` compares both).
It sits inside the request id, metrics, texts and body-limit middlewares, so all of them still
apply; it sets ``scope["route"]`` as the router would, so the metrics label it the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twostep.identifiers import DOMAIN_PATTERN, MAX_DOMAIN
from twostep.web.api import totp
from twostep.web.api.schemas import CodeBody
from twostep.web.deps import ID_PATTERN, OrgScope, get_scope

__all__ = ["FastLane"]

_Endpoint = Callable[[str, CodeBody, OrgScope, str | None], Awaitable[BaseModel]]


def _route_of(endpoint: _Endpoint) -> APIRoute:
    """The route object itself: the one the router puts in ``scope["route"]``."""
    return next(r for r in totp.router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


# By the end of the path: the route and its endpoint function.
_LANES: dict[str, tuple[APIRoute, _Endpoint]] = {
    "/totp/verify": (_route_of(totp.verify_totp), totp.verify_totp),
    "/totp/confirm": (_route_of(totp.confirm_totp), totp.confirm_totp),
}
_SUFFIXES = tuple(_LANES)
# The patterns of OrgPath, UserIdPath and ApplicationQuery (web/deps.py), as fullmatches.
_DOMAIN = re.compile(DOMAIN_PATTERN)
_ID = re.compile(ID_PATTERN)
_ENVIRONMENTS = {"sandbox", "production"}


class FastLane:
    """Answer well-formed code checks without FastAPI's router; hand over everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.endswith(_SUFFIXES)
            or scope.get("root_path")  # behind a prefix the router's matching is not ours
        ):
            await self.app(scope, receive, send)
            return
        route, endpoint = _LANES[path[path.rindex("/totp/") :]]
        matched = route.path_regex.match(path)
        query = _query(scope["query_string"])
        if matched is None or query is None or not _valid_path(**matched.groupdict()):
            await self.app(scope, receive, send)
            return
        messages = await _read_request(receive)
        replay = _replaying(messages, receive)
        request = Request(scope, replay)
        body = _code_body(request, messages)
        if body is None:
            await self.app(scope, replay, send)
            return
        # What the router would have left in the scope (the metrics read the route).
        scope.update(route=route, endpoint=endpoint, path_params=matched.groupdict())
        response = await _answer(request, endpoint, body, **matched.groupdict(), **query)
        await response(scope, replay, send)


async def _answer(
    request: Request,
    endpoint: _Endpoint,
    body: CodeBody,
    *,
    org: str,
    user_id: str,
    application: str | None = None,
    env: str | None = None,
) -> Response:
    """The route's answer: its dependency, its endpoint, its serialization, its handlers."""
    try:
        scope = await get_scope(request, org, None, env)
        result = await endpoint(user_id, body, scope, application)
    except Exception as exc:
        handler = _handler_for(request, exc)
        if handler is None:  # unexpected: up to the server-error middleware, as from the route
            raise
        answer: Response = await handler(request, exc)
        return answer
    return Response(result.model_dump_json(by_alias=True), media_type="application/json")


def _handler_for(request: Request, exc: Exception) -> Callable[..., Awaitable[Any]] | None:
    """The app's handler for ``exc``, as Starlette's exception middleware looks it up; the
    handler of ``Exception`` itself belongs to the server-error middleware, outside us."""
    handlers: dict[Any, Callable[..., Awaitable[Any]]] = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


def _valid_path(org: str, user_id: str) -> bool:
    return (
        len(org) <= MAX_DOMAIN
        and _DOMAIN.fullmatch(org) is not None
        and len(user_id) <= 64
        and _ID.fullmatch(user_id) is not None
    )


def _query(raw: bytes) -> dict[str, str] | None:
    """``application`` and ``env`` when they are all the query holds, each once and valid;
    None for anything else (the route decides then)."""
    if not raw:
        return {}
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    found = dict(pairs)
    if len(found) != len(pairs) or not found.keys() <= {"application", "env"}:
        return None
    application = found.get("application")
    if application is not None and (len(application) > 64 or not _ID.fullmatch(application)):
        return None
    if "env" in found and found["env"] not in _ENVIRONMENTS:
        return None
    return found


async def _read_request(receive: Receive) -> list[Message]:
    """The messages of the whole body (the body limit was checked outside)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _code_body(request: Request, messages: list[Message]) -> CodeBody | None:
    """The body as the route would validate it, or None when it is not plainly a valid one."""
    content_type = request.headers.get("content-type", "")
    if messages[-1]["type"] != "http.request" or (
        content_type.partition(";")[0].strip().lower() != "application/json"
    ):
        return None
    try:
        document = json.loads(b"".join(m.get("body", b"") for m in messages))
        return CodeBody.model_validate(document)
    except (ValueError, RecursionError, ValidationError):
        return None
