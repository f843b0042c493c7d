"""The admin console's one-time bypass code (issue 12.4): issued from the user's page with a
reason, shown once on the page that answers the form (never in a URL or a log)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from twostep.errors import NotFound, TotpNotEnrolled, ValidationFailed
from twostep.services.admin_recovery import MAX_REASON, issue_bypass_code
from twostep.web.deps import RuntimeDep, UserIdPath
from twostep.web.pages.admin_session import (
    AdminSession,
    actor_of,
    posting_session,
    render_page,
)

__all__ = ["issue_user_bypass_code", "router"]

router = APIRouter(tags=["admin console"], include_in_schema=False)


@router.post("/admin/users/{user_id}/bypass-code")
async def issue_user_bypass_code(
    request: Request,
    rt: RuntimeDep,
    user_id: UserIdPath,
    csrf: Annotated[str, Form(max_length=128)] = "",
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """A one-time code for a user who lost their authenticator, shown once on this page."""
    back = f"/admin/users/{user_id}"
    session = await posting_session(request, rt, csrf, back)
    if not isinstance(session, AdminSession):
        return session
    try:
        issued = await issue_bypass_code(
            rt, actor_of(request, session), session.env, user_id, reason
        )
    except ValidationFailed:
        return RedirectResponse(f"{back}?error=reason_required", status_code=303)
    except TotpNotEnrolled:
        return RedirectResponse(f"{back}?error=totp_not_enrolled", status_code=303)
    except NotFound:
        return RedirectResponse("/admin/users", status_code=303)
    expires = datetime.fromtimestamp(issued.expires_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    response = render_page(
        request,
        "bypass_code.html",
        session,
        section="users",
        code=issued.code,
        expires=expires,
        back=back,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
