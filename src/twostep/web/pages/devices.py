"""Remembered devices on the hosted pages (issue 12.2): the browser's device cookie going into
a sign-in journey, the cookie set after "Trust this browser", and the user's list of trusted
browsers on the settings page, each revocable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from twostep.clock import to_datetime
from twostep.crypto import same_token
from twostep.errors import NotAuthenticated, NotFound
from twostep.services import devices
from twostep.services.authentication import read_session, session_csrf
from twostep.services.organizations import environment_by_id
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.web.client_address import end_user_actor
from twostep.web.deps import RuntimeDep
from twostep.web.pages.journey_pages import SESSION_COOKIE, set_cookie

__all__ = [
    "DEVICE_COOKIE",
    "device_input",
    "device_rows",
    "keep_device",
    "revoke_device",
    "router",
]

router = APIRouter(tags=["hosted pages"], include_in_schema=False)

DEVICE_COOKIE = "twostep_device"
_MAX_AGENT = 512


def device_input(request: Request) -> dict[str, Any]:
    """What a sign-in journey learns from the browser: the device it was remembered as (its
    cookie), a fresh token to remember it under if the person asks, and its ``User-Agent``."""
    known = request.cookies.get(DEVICE_COOKIE)
    return {
        **({"remembered_device": known} if known else {}),
        "device_token": devices.new_device_token(),
        "device_agent": request.headers.get("user-agent", "")[:_MAX_AGENT],
    }


async def keep_device(rt: Runtime, response: Response, added: dict[str, Any]) -> None:
    """Give the browser its device cookie when the journey remembered it under the token."""
    token = added["device_token"]
    seconds = await devices.remembered_for(rt, token)
    if seconds is not None:
        set_cookie(response, rt, DEVICE_COOKIE, token, round(seconds))


def _when(timestamp: float) -> str:
    return to_datetime(timestamp).strftime("%Y-%m-%d %H:%M UTC")


async def device_rows(rt: Runtime, env: EnvironmentRecord, user_id: str) -> list[dict[str, str]]:
    """The user's trusted browsers as the settings page and the console list them."""
    return [
        {
            "id": d.id,
            "agent": d.agent,
            "created_at": _when(d.created_at),
            "last_used_at": _when(d.last_used_at),
            "expires_at": _when(d.expires_at),
        }
        for d in await devices.list_devices(rt, env, user_id)
    ]


@router.post("/auth/two-factor/devices/{device_id}/revoke")
async def revoke_device(
    request: Request,
    rt: RuntimeDep,
    device_id: Annotated[str, Path(max_length=36)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    """Stop trusting one of the signed-in user's browsers; it asks the code again."""
    try:
        session = await read_session(rt, request.cookies.get(SESSION_COOKIE))
    except NotAuthenticated:
        return RedirectResponse("/auth/two-factor", status_code=303)
    if not same_token(csrf, session_csrf(rt, session)):
        return RedirectResponse("/auth/two-factor?error=device", status_code=303)
    env = await environment_by_id(rt, session.environment_id)
    actor = end_user_actor(request, f"user:{session.user_id}")
    try:
        await devices.forget_device(rt, actor, env, session.user_id, device_id)
    except NotFound:
        return RedirectResponse("/auth/two-factor?error=device", status_code=303)
    return RedirectResponse("/auth/two-factor?done=device", status_code=303)
