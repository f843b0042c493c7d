"""Counts and latency histograms of HTTP requests by route template.

The metrics are prometheus-fastapi-instrumentator's (``http_requests_total`` and
``http_request_duration_seconds`` by handler, method and grouped status); the ``handler``
label is the route's template (``/api/v1/org/{org}/users/{user_id}/totp/verify``), never a path
with ids in it, so that the number of series stays bounded whatever clients send.

The instrumentator's own middleware finds that template by matching the request against
every route again, and builds a response object per request: some 40 us a request, a
noticeable share of a code check. This middleware reads the route the router matched from
the ASGI scope instead, and falls back on the instrumentator's matching only for requests no
API route answered (static files, 404s, 405s, redirects). It feeds the two metrics itself,
through their labelled children kept per label set, not through the instrumentator's
observers (which look the children up, and build an ``Info`` with a request, every time).
"""

from __future__ import annotations

from time import perf_counter

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from prometheus_fastapi_instrumentator import routing
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HttpMetrics", "instrument_http"]

_UNTEMPLATED = "none"
_SCRAPES = "/metrics"  # scrapes are not requests worth timing
_LABELS = ("handler", "method", "status")

# The instrumentator's two default metrics, by the same names, labels and buckets (so its
# dashboards work), created once per process: every app this process builds (tests build
# several) feeds them.
_REQUESTS = Counter(
    "http_requests_total", "Total number of requests by method, status and handler.", _LABELS
)
_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests in seconds",
    _LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
)
# (handler, method, status class) -> the labelled children: looking them up by labels costs
# more than the observation. Bounded: a method is whatever a client sends.
_CHILDREN: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
_MAX_CHILDREN = 4096


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
        key = (handler, scope["method"], f"{str(status)[0]}xx")
        children = _CHILDREN.get(key)
        if children is None:
            children = (_REQUESTS.labels(*key), _LATENCY.labels(*key))
            if len(_CHILDREN) < _MAX_CHILDREN:
                _CHILDREN[key] = children
        children[0].inc()
        children[1].observe(max(duration, 0.0))
