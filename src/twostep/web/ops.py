"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import hmac
import time
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from twostep.services.clock_skew import ClockSkewWatch
from twostep.services.metrics import exposition
from twostep.services.readiness import not_ready_reason
from twostep.web.deps import RuntimeDep
from twostep.web.problems import problem_response

__all__ = ["READINESS_TTL_S", "Status", "healthz", "metrics", "readyz", "router"]

router = APIRouter(tags=["operations"])


class Status(BaseModel):
    status: Literal["ok", "unavailable"]
    reason: str | None = Field(None, description="Why not ready (only when unavailable).")


# How long a readiness answer is reused: probes come every few seconds, each would otherwise
# cost a database round trip.
READINESS_TTL_S = 2.0


@router.get("/healthz", operation_id="checkLiveness", response_model_exclude_none=True)
async def healthz() -> Status:
    """The process answers."""
    return Status(status="ok")


@router.get(
    "/readyz",
    operation_id="checkReadiness",
    response_model=Status,
    responses={
        503: {
            "description": "The database does not answer, its schema is behind the code, or "
            "this node's clock is off the database server's by more than the limit",
            "model": Status,
        }
    },
)
async def readyz(request: Request, rt: RuntimeDep) -> JSONResponse:
    """The database answers, its schema is at the newest migration and this node's clock is
    within `TWOSTEP_MAX_CLOCK_SKEW_S` of the database server's (checked every 2 s)."""
    cached: tuple[float, str | None] | None = getattr(request.app.state, "readiness", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > READINESS_TTL_S:
        clock_skew: ClockSkewWatch | None = getattr(request.app.state, "clock_skew", None)
        cached = (now, await not_ready_reason(rt, clock_skew))
        request.app.state.readiness = cached
    if cached[1] is not None:
        return JSONResponse({"status": "unavailable", "reason": cached[1]}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get(
    "/metrics",
    operation_id="getMetrics",
    response_class=PlainTextResponse,
)
async def metrics(request: Request, rt: RuntimeDep) -> Response:
    """Prometheus metrics of every worker; behind a bearer token when one is set."""
    token = rt.settings.metrics_token
    if token is not None and not _bearer_matches(request, token.get_secret_value()):
        return problem_response(
            request,
            status=401,
            code="unauthorized",
            title="Unauthorized",
            msgid="A valid metrics token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken says nothing about how much of the token was right
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
