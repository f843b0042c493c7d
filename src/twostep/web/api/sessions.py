"""The session a finished login journey issued: read it, end it (bearer session token)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from twostep.services.authentication import end_session, read_session
from twostep.web.api.schemas import iso
from twostep.web.deps import RuntimeDep, bearer_token

__all__ = ["SessionOut", "current_session", "router", "sign_out"]

# Declares, for the OpenAPI document, the session token these routes read themselves.
_SESSION_TOKEN = HTTPBearer(
    scheme_name="sessionToken",
    description="The session token a finished login journey answered.",
    auto_error=False,
)
router = APIRouter(
    prefix="/api/v1/sessions", tags=["sessions"], dependencies=[Security(_SESSION_TOKEN)]
)


class SessionOut(BaseModel):
    user_id: str
    client_id: str
    amr: list[str]
    auth_time: str
    expires_at: str


@router.get("/current", operation_id="getCurrentSession")
async def current_session(request: Request, rt: RuntimeDep) -> SessionOut:
    """Who the `Authorization: Bearer <token>` of a finished journey belongs to, and how they
    signed in (`amr`: `pwd`, `otp`, `recovery`). `401 not_authenticated` once it has expired
    or ended."""
    session = await read_session(rt, bearer_token(request))
    return SessionOut(
        user_id=session.user_id,
        client_id=session.client_id,
        amr=session.amr,
        auth_time=iso(session.auth_time),
        expires_at=iso(session.expires_at),
    )


@router.delete("/current", status_code=204, operation_id="signOut")
async def sign_out(request: Request, rt: RuntimeDep) -> Response:
    """End the session: its token stops working at once."""
    await end_session(rt, bearer_token(request))
    return Response(status_code=204)
