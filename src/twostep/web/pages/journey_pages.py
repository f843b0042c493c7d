"""What both page routers (the hosted pages and ``/oauth/authorize``) share when they drive a
journey: the cookie names, showing the step a journey waits on, and ending it."""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from twostep.errors import JourneyExpired, NotAuthenticated
from twostep.i18n import DEFAULT_LOCALE, translate
from twostep.journeys.runner import Answer, Rejection, StepAnswer
from twostep.journeys.steps import PAGES
from twostep.oauth.errors import OAuthError
from twostep.services.authentication import end_session
from twostep.services.organizations import environment_by_id
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.web.pages.rendering import page_locale, render, secure_cookies

__all__ = [
    "JOURNEY_COOKIE",
    "NEXT_COOKIE",
    "SAFE_NEXT",
    "SESSION_COOKIE",
    "expired",
    "finish_answer",
    "login_link",
    "message",
    "page_message",
    "set_cookie",
    "show_step",
]

SESSION_COOKIE = "twostep_session"
JOURNEY_COOKIE = "twostep_journey"
NEXT_COOKIE = "twostep_next"
# Where a finished login may send the browser: a path on this server, nothing else.
SAFE_NEXT = re.compile(r"^/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def set_cookie(response: Response, rt: Runtime, name: str, value: str, max_age: int) -> None:
    """Set one of our cookies: the whole site, not for scripts, sent on top-level navigation."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(rt),
    )


def message(
    request: Request,
    env: EnvironmentRecord | None,
    heading: str,
    text: str = "",
    *,
    status: int = 200,
    alert: bool = False,
    link: str | None = None,
    link_text: str = "",
) -> Response:
    """A page with a heading, a text and perhaps one link onward."""
    return render(
        request,
        "message.html",
        env=env,
        status=status,
        heading=heading,
        text=text,
        alert=alert,
        link=link,
        link_text=link_text,
    )


def login_link(env: EnvironmentRecord | None) -> str:
    """Where signing in to ``env`` starts."""
    if env is None:
        return "/auth/login"
    suffix = "" if env.name == "production" else f"&env={env.name}"
    return f"/auth/login?org={env.organization_domain}{suffix}"


async def show_step(request: Request, answer: StepAnswer) -> Response:
    """The page of the step the journey waits on, and the cookie that finds the journey again."""
    context: dict[str, Any] = {"answer": answer, "error": answer.error}
    page = PAGES.get(answer.step_id)
    if page is not None:  # what the step's template needs besides the payload
        context.update(page.context(answer.payload, page_locale(request)))
    back = (answer.return_to.redirect_uri,) if answer.return_to else ()
    rt: Runtime = request.app.state.runtime
    response = render(
        request,
        f"steps/{answer.step_id}.html",
        env=await environment_by_id(rt, answer.environment_id),
        form_targets=back,
        **context,
    )
    set_cookie(response, rt, JOURNEY_COOKIE, answer.session, rt.settings.journey_ttl_s)
    return response


async def finish_answer(request: Request, answer: Answer) -> Response:
    """Show the step a journey waits on, or end it: a session cookie, or the rejection."""
    rt: Runtime = request.app.state.runtime
    if isinstance(answer, StepAnswer):
        return await show_step(request, answer)
    if isinstance(answer, Rejection):
        return await _rejected(request, rt, answer)
    target = request.cookies.get(NEXT_COOKIE) or ""
    if answer.code is not None:
        # An application's sign-in: the code goes to its registered redirect URI.
        target = answer.code.location
    elif not SAFE_NEXT.fullmatch(target):
        target = f"/auth/two-factor?done={answer.journey}"
    response = RedirectResponse(target, status_code=303)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        with suppress(NotAuthenticated):  # the journey's new session replaces the old one
            await end_session(rt, old)
    set_cookie(response, rt, SESSION_COOKIE, answer.session.token, rt.settings.session_ttl_s)
    response.delete_cookie(JOURNEY_COOKIE, path="/")
    response.delete_cookie(NEXT_COOKIE, path="/")
    return response


async def _rejected(request: Request, rt: Runtime, answer: Rejection) -> Response:
    """A refused sign-in: back to the application that asked, or a page that says so."""
    if answer.return_to is not None:
        # An application's sign-in: the refusal goes back to it (RFC 6749 4.1.2.1).
        refusal = OAuthError("access_denied", answer.error.detail(DEFAULT_LOCALE))
        back = RedirectResponse(answer.return_to.with_error(refusal), status_code=303)
        back.delete_cookie(JOURNEY_COOKIE, path="/")
        return back
    env = await environment_by_id(rt, answer.environment_id)
    locale = page_locale(request)
    response = message(
        request,
        env,
        translate(locale, "Not signed in"),
        answer.error.detail(locale),
        status=403,
        alert=True,
        link=login_link(env),
        link_text=translate(locale, "Start again"),
    )
    response.delete_cookie(JOURNEY_COOKIE, path="/")
    return response


def page_message(
    request: Request, env: EnvironmentRecord | None, heading: str, text: str, status: int = 400
) -> Response:
    """A page that tells the person what went wrong, in their language where we can."""
    locale = page_locale(request)
    return message(
        request, env, translate(locale, heading), translate(locale, text), status=status, alert=True
    )


def expired(request: Request, env: EnvironmentRecord | None = None) -> Response:
    """The journey is gone: say so, and offer to start again."""
    locale = page_locale(request)
    response = message(
        request,
        env,
        translate(locale, "Session expired"),
        translate(locale, JourneyExpired.default_msgid),
        status=410,
        alert=True,
        link=login_link(env),
        link_text=translate(locale, "Start again"),
    )
    response.delete_cookie(JOURNEY_COOKIE, path="/")
    return response
