"""The admin console's session: a cookie ``<api key id>.<expiry>.<hmac>`` signed with the
server pepper (the API key itself never goes into a cookie), and the pages every console route
renders. Each request checks the signature and the expiry, then reads the key by its id, so a
revoked key ends its sessions at once. Every form carries a CSRF token derived from the cookie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from twostep.crypto import keyed_digest, same_token
from twostep.i18n import translate
from twostep.services.organizations import principal_by_key_id
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.web.client_address import backend_actor
from twostep.web.pages.rendering import page_locale, render

__all__ = [
    "ADMIN_COOKIE",
    "COOKIE_PATH",
    "SESSION_TTL_S",
    "AdminSession",
    "actor_of",
    "csrf_ok",
    "csrf_refused",
    "iso_time",
    "message_page",
    "posting_session",
    "render_page",
    "session_cookie",
    "session_of",
    "to_sign_in",
    "translated",
]

ADMIN_COOKIE = "twostep_admin"
COOKIE_PATH = "/admin"
SESSION_TTL_S = 3600
_KEY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_EXPIRY = re.compile(r"[0-9]{1,12}")


# -- the session -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdminSession:
    """A signed-in admin: the API key's id, its environment, and the CSRF token of its forms."""

    key_id: str
    env: EnvironmentRecord
    csrf: str


def _cookie_signature(rt: Runtime, key_id: str, expiry: str) -> str:
    return keyed_digest(rt.keyring.pepper, "admin", key_id, expiry)


def session_cookie(rt: Runtime, key_id: str, expiry: int) -> str:
    return f"{key_id}.{expiry}.{_cookie_signature(rt, key_id, str(expiry))}"


def _csrf_token(rt: Runtime, cookie: str) -> str:
    return keyed_digest(rt.keyring.pepper, "admin-csrf", cookie)


def _signed_key_id(rt: Runtime, cookie: str) -> str | None:
    """The key id of a well-formed, authentic, unexpired session cookie; else None."""
    parts = cookie.split(".")
    if len(parts) != 3:
        return None
    key_id, expiry, signature = parts
    if not (_KEY_ID.fullmatch(key_id) and _EXPIRY.fullmatch(expiry)):
        return None
    if not same_token(signature, _cookie_signature(rt, key_id, expiry)):
        return None
    if int(expiry) <= rt.clock.now():
        return None
    return key_id


async def session_of(request: Request, rt: Runtime) -> AdminSession | None:
    """The session of the request's cookie, if it is authentic, unexpired and its API key is
    still live (a revoked key, or a server-admin key, has no session here)."""
    cookie = request.cookies.get(ADMIN_COOKIE)
    key_id = _signed_key_id(rt, cookie) if cookie else None
    if cookie is None or key_id is None:
        return None
    principal = await principal_by_key_id(rt, key_id)
    if principal is None or principal.environment is None:
        return None
    return AdminSession(principal.key_id, principal.environment, _csrf_token(rt, cookie))


async def posting_session(
    request: Request, rt: Runtime, csrf: str, back: str
) -> AdminSession | Response:
    """The session of a form post, or the page that refuses it (signed out, or a forged form)."""
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    if not csrf_ok(session, csrf):
        return csrf_refused(request, session, back)
    return session


def csrf_ok(session: AdminSession, token: str) -> bool:
    return same_token(token, session.csrf)


def actor_of(request: Request, session: AdminSession) -> Actor:
    return backend_actor(request, f"admin:{session.key_id}")


def to_sign_in(request: Request) -> Response:
    """Back to the sign-in form; a cookie that is no longer good is dropped."""
    if ADMIN_COOKIE not in request.cookies:
        return RedirectResponse("/admin", status_code=303)
    response = RedirectResponse("/admin?session=ended", status_code=303)
    response.delete_cookie(ADMIN_COOKIE, path=COOKIE_PATH)
    return response


# -- rendering ---------------------------------------------------------------------------------


def translated(request: Request, msgid: str, **params: Any) -> str:
    return translate(page_locale(request), msgid, **params)


def iso_time(epoch: float | None) -> str:
    """A stored time as ISO 8601 in UTC, to the second; empty for none."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


def render_page(
    request: Request,
    template: str,
    session: AdminSession | None,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        f"admin/{template}",
        env=None,  # the console keeps its own look: a broken theme must stay fixable here
        status=status,
        admin=session,
        csrf=session.csrf if session else "",
        **context,
    )


def message_page(
    request: Request,
    session: AdminSession | None,
    heading: str,
    text: str,
    *,
    status: int,
    link: str | None = None,
    link_text: str = "",
) -> Response:
    return render_page(
        request,
        "message.html",
        session,
        status=status,
        heading=heading,
        text=text,
        link=link,
        link_text=link_text,
    )


def csrf_refused(request: Request, session: AdminSession, back: str) -> Response:
    return message_page(
        request,
        session,
        translated(request, "Request refused"),
        translated(
            request,
            "This form has expired or did not come from this console. "
            "Reload the page and try again.",
        ),
        status=403,
        link=back,
        link_text=translated(request, "Back"),
    )
