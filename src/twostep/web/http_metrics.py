"""Counts and latency histograms of HTTP requests by route template.

prometheus-fastapi-instrumentator measures; the ``handler`` label is the route's template
(``/api/v1/org/{org}/users/{user_id}/totp/verify``), never a path with ids in it, so that the
number of series stays bounded whatever clients send.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator, routing
from prometheus_fastapi_instrumentator import metrics as instruments

__all__ = ["instrument_http"]

_Observer = Callable[[instruments.Info], None]


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
    Instrumentator(
        should_group_status_codes=True,
        should_group_untemplated=True,
        excluded_handlers=["^/metrics$"],
    ).add(_templates_only(app)).instrument(app)


def _templates_only(app: FastAPI) -> _Observer:
    """Observe with ``handler`` set to ``none`` unless it is one of the app's templates.

    The instrumentator labels a path that only a trailing-slash redirect would match with the
    raw path (ids included); an unbounded label is what this module exists to avoid.
    """
    templates: set[str] = set()

    def observe(info: instruments.Info) -> None:
        if not templates:  # read at the first request: every route is in place by then
            # The instrumentator's own view of the routes (FastAPI nests included routers).
            flat = routing._effective_routes(app.routes)
            templates.update(str(getattr(route, "path", "")) for route in flat)
        if info.modified_handler not in templates:
            info.modified_handler = "none"
        for observer in _OBSERVERS:
            observer(info)

    return observe
