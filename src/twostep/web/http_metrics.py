"""Counts and latency histograms of HTTP requests by route template.

The metrics are prometheus-fastapi-instrumentator's (``http_requests_total`` and
``http_request_duration_seconds`` by handler, method and grouped status); the ``handler``
label is the route's template (``/api/v1/org/{org}/users/{user_id}/totp/verify``), never a path
with ids in it, so that the number of series stays bounded whatever clients send.

The instrumentator's own middleware finds that template by matching the request against
every route again, and builds a response object per request: some 40 us a request, a
noticeable share of a code check. This middleware reads the route the router matched from
the ASGI scope instead, and falls back on the instrumentator's matching only for requests no
API route answered (static files, 404s, 405s, redirects).
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import metrics as instruments
from prometheus_fastapi_instrumentator import routing
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HttpMetrics", "instrument_http"]

_Observer = Callable[[instruments.Info], None]
_UNTEMPLATED = "none"
_SCRAPES = "/metrics"  # scrapes are not requests worth timing


def _created(observer: _Observer | None) -> _Observer:
    assert observer is not None, "an HTTP metric of that name is registered already"
    return observer


# Created once per process: every app this process builds (tests build several) feeds them.
_OBSERVERS: tuple[_Observer, ...] = (
    _created(instruments.requests()),
    _created(instruments.latency()),
)


def instrument_http(app: FastAPI) -> None:
    """Measure every request of ``app`` but the scrapes of ``/metrics`` themselves."""
    app.add_middleware(HttpMetrics, routed=app)


class HttpMetrics:
    """Observe each request with its route's template, its method and its status class."""

    def __init__(self, app: ASGIApp, routed: FastAPI) -> None:
        self.app = app
        self.routed = routed
        # Route object id -> its full template, and the set of templates; built at the first
        # request, when every route is in place.
        self._by_route: dict[int, str] = {}
        self._templates: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500
        observed = False

        def observe() -> None:
            nonlocal observed
            observed = True
            handler = self._handler(scope)
            if handler != _SCRAPES:
                self._observe(scope, handler, status, perf_counter() - started)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif not message.get("more_body", False) and not observed:
                # Before the last of the body leaves: a client that has its answer and then
                # scrapes /metrics finds the request counted.
                observe()
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if not observed:  # no answer went out (the app raised)
                observe()

    def _handler(self, scope: Scope) -> str:
        if not self._templates:
            self._learn_routes()
        route = scope.get("route")
        found = None if route is None else self._by_route.get(id(route))
        if not found:  # none, or a route included under several prefixes: match it
            found = routing.get_route_name(Request(scope), False)
        if found == _SCRAPES:
            return found
        # A path only a trailing-slash redirect would match comes back raw (ids included).
        return found if found in self._templates else _UNTEMPLATED

    def _learn_routes(self) -> None:
        # The instrumentator's own view of the routes (FastAPI nests included routers).
        for route in routing._effective_routes(self.routed.routes):
            template = str(getattr(route, "path", ""))
            self._templates.add(template)
            original = getattr(route, "original_route", route)
            known = self._by_route.setdefault(id(original), template)
            if known != template:
                self._by_route[id(original)] = ""

    @staticmethod
    def _observe(scope: Scope, handler: str, status: int, duration: float) -> None:
        info = instruments.Info(
            request=Request(scope),
            response=None,
            method=scope["method"],
            modified_handler=handler,
            modified_status=f"{str(status)[0]}xx",
            modified_duration=max(duration, 0.0),
            modified_duration_without_streaming=0.0,
        )
        for observer in _OBSERVERS:
            observer(info)
