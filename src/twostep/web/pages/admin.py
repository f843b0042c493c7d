"""The admin console at /admin: an organization admin signs in with an API key of one
environment, lists its users with their two-factor state, resets an authenticator, revokes API
keys and edits the environment's auth config (``admin_config``). Plain HTML forms: no JavaScript.

The session (a signed cookie, CSRF tokens) is ``admin_session``.
"""

from __future__ import annotations

import math
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from twostep.crypto import keyed_digest, same_token
from twostep.errors import NotFound, TotpNotEnrolled, Unauthorized, ValidationFailed
from twostep.services import accounts
from twostep.services.accounts import UserView
from twostep.services.admin_recovery import MAX_REASON, REASON_REQUIRED, admin_reset
from twostep.services.organizations import (
    authenticate,
    list_api_keys,
    revoke_api_key,
)
from twostep.services.runtime import Runtime
from twostep.web.deps import KeyIdPath, RuntimeDep, UserIdPath
from twostep.web.pages import admin_config
from twostep.web.pages.admin_session import (
    ADMIN_COOKIE,
    COOKIE_PATH,
    SESSION_TTL_S,
    AdminSession,
    actor_of,
    iso_time,
    message_page,
    posting_session,
    render_page,
    session_cookie,
    session_of,
    to_sign_in,
    translated,
)
from twostep.web.pages.devices import device_rows
from twostep.web.pages.rendering import secure_cookies

__all__ = [
    "KEY_NOTICES",
    "LOGIN_COOKIE",
    "PER_PAGE",
    "SIGN_IN_NOTICES",
    "USER_ERRORS",
    "USER_NOTICES",
    "api_keys_page",
    "reset_two_factor",
    "revoke_key",
    "router",
    "sign_in",
    "sign_in_page",
    "sign_out",
    "user_page",
    "users_page",
]

router = APIRouter(tags=["admin console"], include_in_schema=False)
router.include_router(admin_config.router)

# The pre-session cookie the sign-in form's CSRF token is bound to (random, not a secret).
LOGIN_COOKIE = "twostep_admin_login"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
PER_PAGE = 20


def _iso_date(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()


def _user_row(view: UserView) -> dict[str, Any]:
    """What the users table and the details page show of a user."""
    user, two_factor = view.user, view.two_factor
    return {
        "id": user.id,
        "name": user.email or user.username or user.phone or user.id,
        "email": user.email,
        "username": user.username,
        "phone": user.phone,
        "status": user.status,
        "totp": two_factor.status,  # None, "pending" or "active"
        "totp_id": two_factor.totp_id,
        "enrolled_on": _iso_date(two_factor.enrolled_at),
        "enrolled_at": iso_time(two_factor.enrolled_at),
        "recovery_codes_left": two_factor.recovery_codes_remaining,
        "drift_s": two_factor.drift_s,
        "lock": "none" if user.lock_paired_at is None else "closed" if user.lock_closed else "open",
        "created_at": iso_time(user.created_at),
    }


# -- signing in and out ------------------------------------------------------------------------

SIGN_IN_NOTICES = {
    "ended": "Your admin session has ended. Sign in again.",
    "out": "You are signed out of the admin console.",
}


def _login_nonce(request: Request) -> str | None:
    """The pre-session nonce of this browser, if it has a well-formed one."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    return nonce if nonce is not None and _NONCE.fullmatch(nonce) else None


def _login_csrf(rt: Runtime, nonce: str) -> str:
    """The sign-in form's CSRF token: bound to the browser's pre-session cookie, so a form
    posted from another site (login CSRF) or with another browser's token is refused."""
    return keyed_digest(rt.keyring.pepper, "admin-login", nonce)


def _sign_in_form(
    request: Request,
    rt: Runtime,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    nonce = _login_nonce(request) or secrets.token_urlsafe(24)
    response = render_page(
        request,
        "sign_in.html",
        None,
        status=status,
        error=error,
        notice=notice,
        login_csrf=_login_csrf(rt, nonce),
    )
    if ADMIN_COOKIE in request.cookies:
        response.delete_cookie(ADMIN_COOKIE, path=COOKIE_PATH)
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=SESSION_TTL_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(rt),
    )
    return response


@router.get("/admin")
async def sign_in_page(
    request: Request,
    rt: RuntimeDep,
    session: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """Sign in with an API key of an environment (sandbox or production)."""
    if await session_of(request, rt) is not None:
        return RedirectResponse("/admin/users", status_code=303)
    notice = SIGN_IN_NOTICES.get(session or "")
    return _sign_in_form(request, rt, notice=translated(request, notice) if notice else None)


@router.post("/admin/login")
async def sign_in(
    request: Request,
    rt: RuntimeDep,
    api_key: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    nonce = _login_nonce(request)
    if nonce is None or not same_token(csrf, _login_csrf(rt, nonce)):
        return _sign_in_form(
            request,
            rt,
            status=403,
            error=translated(
                request,
                "This sign-in form has expired or did not come from this console. "
                "Reload the page and try again.",
            ),
        )
    try:
        principal = await authenticate(rt, request.app.state.principal_cache, api_key.strip())
    except Unauthorized:
        return _sign_in_form(
            request, rt, status=401, error=translated(request, "This API key is not valid.")
        )
    if principal.environment is None:
        return _sign_in_form(
            request,
            rt,
            status=403,
            error=translated(
                request,
                "This is a server-admin key. The console manages one environment: sign in "
                "with the API key of its sandbox or production environment.",
            ),
        )
    expiry = int(rt.clock.now()) + SESSION_TTL_S
    response = RedirectResponse("/admin/users", status_code=303)
    response.set_cookie(
        ADMIN_COOKIE,
        session_cookie(rt, principal.key_id, expiry),
        max_age=SESSION_TTL_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(rt),
    )
    return response


@router.post("/admin/logout")
async def sign_out(
    request: Request,
    rt: RuntimeDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    session = await posting_session(request, rt, csrf, "/admin/users")
    if not isinstance(session, AdminSession):
        return session
    response = RedirectResponse("/admin?session=out", status_code=303)
    response.delete_cookie(ADMIN_COOKIE, path=COOKIE_PATH)
    return response


# -- users -------------------------------------------------------------------------------------


def _page_number(raw: str) -> int:
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1


def _users_link(q: str, page: int) -> str:
    query: dict[str, str | int] = {"q": q, "page": page} if q else {"page": page}
    return f"/admin/users?{urlencode(query)}"


@router.get("/admin/users")
async def users_page(
    request: Request,
    rt: RuntimeDep,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[str, Query(max_length=12)] = "1",
) -> Response:
    """The environment's users with their two-factor state, 20 a page, searchable."""
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    q = q.strip()
    number = _page_number(page)
    found = await accounts.list_users(rt, session.env, page=number, per_page=PER_PAGE, q=q)
    pages = max(1, math.ceil(found.total / PER_PAGE))
    return render_page(
        request,
        "users.html",
        session,
        section="users",
        q=q,
        rows=[_user_row(view) for view in found.data],
        total=found.total,
        page=number,
        pages=pages,
        previous_link=_users_link(q, min(number - 1, pages)) if number > 1 else None,
        next_link=_users_link(q, number + 1) if number < pages else None,
    )


USER_NOTICES = {
    "reset": "Two-factor authentication was reset: the user must enroll again.",
    "device": "That browser is no longer trusted.",
}
USER_ERRORS = {
    "totp_not_enrolled": TotpNotEnrolled.default_msgid,
    "reason_required": REASON_REQUIRED,
    "device": "Unknown device.",
}


@router.get("/admin/users/{user_id}")
async def user_page(
    request: Request,
    rt: RuntimeDep,
    user_id: UserIdPath,
    done: Annotated[str | None, Query(max_length=20)] = None,
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """One user: identifiers, status, two-factor state, lock; and the reset button."""
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    try:
        view = await accounts.get_user(rt, session.env, user_id)
    except NotFound:
        return message_page(
            request,
            session,
            translated(request, "Not found"),
            translated(request, "Unknown user."),
            status=404,
            link="/admin/users",
            link_text=translated(request, "Users"),
        )
    notice = USER_NOTICES.get(done or "")
    problem = USER_ERRORS.get(error or "")
    return render_page(
        request,
        "user.html",
        session,
        section="users",
        user=_user_row(view),
        devices=await device_rows(rt, session.env, view.user.id),
        notice=translated(request, notice) if notice else None,
        error=translated(request, problem) if problem else None,
    )


@router.post("/admin/users/{user_id}/reset-two-factor")
async def reset_two_factor(
    request: Request,
    rt: RuntimeDep,
    user_id: UserIdPath,
    csrf: Annotated[str, Form(max_length=128)] = "",
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Remove the user's authenticator and recovery codes (spec 3.8), as this API key, with
    the reason the form requires (kept in the audit trail)."""
    back = f"/admin/users/{user_id}"
    session = await posting_session(request, rt, csrf, back)
    if not isinstance(session, AdminSession):
        return session
    try:
        await admin_reset(rt, actor_of(request, session), session.env, user_id, reason)
    except ValidationFailed:
        return RedirectResponse(f"{back}?error=reason_required", status_code=303)
    except TotpNotEnrolled:
        return RedirectResponse(f"{back}?error=totp_not_enrolled", status_code=303)
    except NotFound:
        return RedirectResponse("/admin/users", status_code=303)
    return RedirectResponse(f"{back}?done=reset", status_code=303)


# -- API keys ----------------------------------------------------------------------------------

KEY_NOTICES = {"revoked": "The API key was revoked: it no longer works."}


@router.get("/admin/api-keys")
async def api_keys_page(
    request: Request,
    rt: RuntimeDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The environment's API keys (never their secrets), each live one with a revoke button."""
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    keys = await list_api_keys(rt, session.env)
    notice = KEY_NOTICES.get(done or "")
    return render_page(
        request,
        "api_keys.html",
        session,
        section="api_keys",
        keys=[
            {
                "id": key.id,
                "name": key.name,
                "prefix": key.prefix or "",
                "created_at": iso_time(key.created_at),
                "last_used_at": iso_time(key.last_used_at),
                "revoked_at": iso_time(key.revoked_at),
                "current": key.id == session.key_id,
            }
            for key in keys
        ],
        notice=translated(request, notice) if notice else None,
    )


@router.post("/admin/api-keys/{key_id}/revoke")
async def revoke_key(
    request: Request,
    rt: RuntimeDep,
    key_id: KeyIdPath,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Revoke one of the environment's keys; revoking the session's own key signs it out."""
    session = await posting_session(request, rt, csrf, "/admin/api-keys")
    if not isinstance(session, AdminSession):
        return session
    try:
        await revoke_api_key(
            rt,
            actor_of(request, session),
            session.env,
            key_id,
            cache=request.app.state.principal_cache,
        )
    except NotFound:
        return message_page(
            request,
            session,
            translated(request, "Not found"),
            translated(request, "Unknown API key."),
            status=404,
            link="/admin/api-keys",
            link_text=translated(request, "API keys"),
        )
    return RedirectResponse("/admin/api-keys?done=revoked", status_code=303)
