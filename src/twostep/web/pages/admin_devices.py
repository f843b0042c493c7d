"""The admin console's part in remembered devices (issue 12.2): revoking one of a user's
trusted browsers from the user's page (which lists them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from twostep.errors import NotFound
from twostep.services.devices import forget_device
from twostep.web.deps import KeyIdPath, RuntimeDep, UserIdPath
from twostep.web.pages.admin_session import AdminSession, actor_of, posting_session

__all__ = ["revoke_user_device", "router"]

router = APIRouter(tags=["admin console"], include_in_schema=False)


@router.post("/admin/users/{user_id}/devices/{device_id}/revoke")
async def revoke_user_device(
    request: Request,
    rt: RuntimeDep,
    user_id: UserIdPath,
    device_id: KeyIdPath,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Stop trusting one of the user's browsers: its next sign-in asks the code."""
    back = f"/admin/users/{user_id}"
    session = await posting_session(request, rt, csrf, back)
    if not isinstance(session, AdminSession):
        return session
    try:
        await forget_device(rt, actor_of(request, session), session.env, user_id, device_id)
    except NotFound:
        return RedirectResponse(f"{back}?error=device", status_code=303)
    return RedirectResponse(f"{back}?done=device", status_code=303)
