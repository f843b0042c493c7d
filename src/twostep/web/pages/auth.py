"""The pages a person sees: sign in (the ``login`` journey), two-factor settings, enabling
(``enroll``) and disabling (``disable``) it, recovery codes, the lock, signing out.

Every step page is a template named after the step id and posts to ``/auth/journey``; the
journey runner decides what comes next, so there is no second implementation of login here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from twostep.clock import to_datetime
from twostep.crypto import same_token
from twostep.errors import (
    JourneyExpired,
    NotAuthenticated,
    NotFound,
    TwostepError,
    ValidationFailed,
)
from twostep.i18n import translate
from twostep.identifiers import DOMAIN_PATTERN, MAX_DOMAIN
from twostep.journeys.runner import (
    STALE_FORM,
    SignedIn,
    current_step,
    start_journey,
)
from twostep.journeys.steps import PAGES
from twostep.services import locks
from twostep.services.accounts import get_user
from twostep.services.authentication import end_session, read_session, session_csrf
from twostep.services.factors import list_authenticators
from twostep.services.organizations import environment_by_id, public_environment
from twostep.services.reauth import factor_is_fresh, require_fresh_factor
from twostep.services.runtime import Actor, Runtime, totp_enabled
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.sessions import UserSession
from twostep.web.client_address import end_user_actor
from twostep.web.deps import RuntimeDep
from twostep.web.pages.devices import device_input, device_rows, keep_device
from twostep.web.pages.journey_pages import (
    JOURNEY_COOKIE,
    NEXT_COOKIE,
    SAFE_NEXT,
    SESSION_COOKIE,
    expired,
    finish_answer,
    login_link,
    message,
    set_cookie,
    show_step,
)
from twostep.web.pages.rendering import page_locale, render
from twostep.web.pages.step_forms import StepForm, answer_page

__all__ = [
    "DONE_NOTICES",
    "LOCK_ERRORS",
    "DomainQuery",
    "EnvQuery",
    "disable_page",
    "enable_page",
    "journey_answer",
    "journey_page",
    "lock_action",
    "login_page",
    "logout",
    "logout_page",
    "recovery_codes_file",
    "regenerate_codes_page",
    "replace_page",
    "router",
    "two_factor_page",
]

router = APIRouter(tags=["hosted pages"], include_in_schema=False)

DomainQuery = Annotated[str, Query(min_length=1, max_length=MAX_DOMAIN, pattern=DOMAIN_PATTERN)]
EnvQuery = Annotated[str, Query(pattern="^(sandbox|production)$")]


def _actor(request: Request, session: UserSession | None = None) -> Actor:
    return end_user_actor(request, f"user:{session.user_id}" if session else "journey")


_ORG_MISSING = {"loc": ["query", "org"], "msg": "Field required", "type": "missing"}


@router.get("/auth/login")
async def login_page(
    request: Request,
    rt: RuntimeDep,
    org: Annotated[
        str | None, Query(min_length=1, max_length=MAX_DOMAIN, pattern=DOMAIN_PATTERN)
    ] = None,
    env: EnvQuery = "production",
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """Sign in to an organization (production, or ``&env=sandbox``). With ``client_id`` and
    ``response_type`` (Aidbox's login link), it is an OAuth authorization request: continued
    at ``/oauth/authorize`` with the same query."""
    query = request.query_params
    if "client_id" in query and "response_type" in query:
        return RedirectResponse(f"/oauth/authorize?{request.url.query}", status_code=303)
    if org is None:
        raise ValidationFailed(errors=[_ORG_MISSING])
    _, client_id = await public_environment(rt, org, env)
    answer = await start_journey(rt, _actor(request), "login", client_id, {})
    response = await finish_answer(request, answer)
    if next and SAFE_NEXT.fullmatch(next):
        set_cookie(response, rt, NEXT_COOKIE, next, rt.settings.journey_ttl_s)
    return response


@router.get("/auth/journey")
async def journey_page(request: Request, rt: RuntimeDep) -> Response:
    """The step the browser's journey waits on (a reload, or a change of language)."""
    session = request.cookies.get(JOURNEY_COOKIE)
    try:
        answer = await current_step(rt, session or "")
    except JourneyExpired:
        return expired(request)
    return await show_step(request, answer)


@router.post("/auth/journey")
async def journey_answer(
    request: Request,
    rt: RuntimeDep,
    form: Annotated[StepForm, Form()],
) -> Response:
    """An answer to the step the page showed, turned into the journey's input by the page
    its step kind declares."""
    session = request.cookies.get(JOURNEY_COOKIE) or ""
    try:
        shown = await current_step(rt, session)
    except JourneyExpired:
        return expired(request)
    if shown.step_id != form.step or form.step not in PAGES:
        return await show_step(request, shown)  # an old tab: show where the journey is now
    added = device_input(request)
    try:
        answer = await answer_page(rt, _actor(request), session, form, added)
    except JourneyExpired:
        return expired(request, await environment_by_id(rt, shown.environment_id))
    except TwostepError as exc:  # a stale form (CSRF) or a racing second click
        locale = page_locale(request)
        return message(
            request,
            await environment_by_id(rt, shown.environment_id),
            translate(locale, "Please try again"),
            translate(locale, exc.msgid, **exc.params),
            status=exc.status,
            alert=True,
            link="/auth/journey",
            link_text=translate(locale, "Continue"),
        )
    response = await finish_answer(request, answer)
    if form.step == "TotpAuthentication":  # "Trust this browser" ticked with a good code
        await keep_device(rt, response, added)
    return response


@router.get("/auth/journey/recovery-codes.txt")
async def recovery_codes_file(request: Request, rt: RuntimeDep) -> Response:
    """The recovery codes the journey is showing, as a text file (never after it moved on)."""
    try:
        shown = await current_step(rt, request.cookies.get(JOURNEY_COOKIE) or "")
    except JourneyExpired:
        return expired(request)
    if shown.step_id != "RecoveryCodes":
        return await show_step(request, shown)
    env = await environment_by_id(rt, shown.environment_id)
    issuer = env.organization_name if env else "Twostep"
    lines = [f"{issuer} recovery codes", "", *shown.payload["codes"], ""]
    return PlainTextResponse(
        "\n".join(lines),
        headers={
            "Content-Disposition": 'attachment; filename="recovery-codes.txt"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _signed_in(request: Request, rt: Runtime) -> UserSession | None:
    try:
        return await read_session(rt, request.cookies.get(SESSION_COOKIE))
    except NotAuthenticated:
        return None


def _to_login(request: Request, env: EnvironmentRecord | None = None) -> Response:
    org = request.query_params.get("org")
    if env is None and org:
        return RedirectResponse(f"/auth/login?org={org}&next=/auth/two-factor", status_code=303)
    if env is not None:
        return RedirectResponse(f"{login_link(env)}&next=/auth/two-factor", status_code=303)
    locale = page_locale(request)
    return message(
        request,
        None,
        translate(locale, "Not signed in"),
        translate(locale, NotAuthenticated.default_msgid),
        status=401,
        alert=True,
    )


DONE_NOTICES = {
    "login": "You are signed in.",
    "enroll": "Two-factor authentication is on.",
    "disable": "Two-factor authentication is off.",
    "regenerate_codes": "You have new recovery codes: the old ones no longer work.",
    "replace": "Your new authenticator is on: the old one no longer works.",
    "device": "That browser is no longer trusted.",
}


@router.get("/auth/two-factor")
async def two_factor_page(
    request: Request,
    rt: RuntimeDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The signed-in user's two-factor state, with Enable or Disable, and the lock."""
    session = await _signed_in(request, rt)
    if session is None:
        return _to_login(request)
    env = await environment_by_id(rt, session.environment_id)
    locale = page_locale(request)
    return await _settings_page(
        request,
        rt,
        session,
        env,
        notice=translate(locale, DONE_NOTICES[done]) if done in DONE_NOTICES else None,
        error=translate(locale, LOCK_ERRORS[error]) if error in LOCK_ERRORS else None,
    )


def _when(timestamp: float | None) -> str:
    return to_datetime(timestamp).strftime("%Y-%m-%d %H:%M UTC") if timestamp else ""


async def _settings_page(
    request: Request,
    rt: Runtime,
    session: UserSession,
    env: EnvironmentRecord,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The settings page: the account-wide two-factor state, the user's authenticators by
    application (spec 3b.1), and the lock, whose form asks a code when the factor is stale."""
    try:
        view = await get_user(rt, env, session.user_id, session.client_id)
        listed = await list_authenticators(rt, env, session.user_id)
    except NotFound:
        return _to_login(request, env)
    config = env.config
    active = totp_enabled(rt.settings, config)
    user = view.user
    authenticators = [
        {
            "application": a.application_name,
            "client_id": a.client_id,
            "enrolled_at": _when(a.activated_at),
            "recovery_codes_left": a.recovery_codes_left,
        }
        for a in listed
    ]
    return render(
        request,
        "two_factor.html",
        env=env,
        status=status,
        name=user.email or user.username or user.phone or user.id,
        enabled=bool(authenticators),
        authenticators=authenticators,
        totp_active=active,
        lock_enabled=config.lock.enabled,
        lock={"paired": user.lock_paired_at is not None, "closed": user.lock_closed},
        # Pairing, opening or unpairing weakens the second factor: a stale one asks a code.
        ask_code=bool(authenticators)
        and active
        and not factor_is_fresh(rt, session.amr, session.auth_time),
        csrf=session_csrf(rt, session),
        devices=await device_rows(rt, env, session.user_id),
        notice=notice,
        error=error,
    )


async def _start_for_user(request: Request, rt: Runtime, journey: str) -> Response:
    session = await _signed_in(request, rt)
    if session is None:
        return _to_login(request)
    signed_in = SignedIn(session.user_id, session.amr, session.auth_time)
    answer = await start_journey(
        rt, _actor(request, session), journey, session.client_id, {}, signed_in=signed_in
    )
    return await finish_answer(request, answer)


@router.get("/auth/two-factor/enable")
async def enable_page(request: Request, rt: RuntimeDep) -> Response:
    """Enrollment: the QR code (and the key as text), the first code, the recovery codes."""
    return await _start_for_user(request, rt, "enroll")


@router.get("/auth/two-factor/disable")
async def disable_page(request: Request, rt: RuntimeDep) -> Response:
    """A current code (or a recovery code) confirms; then the authenticator is removed."""
    return await _start_for_user(request, rt, "disable")


@router.get("/auth/two-factor/recovery-codes")
async def regenerate_codes_page(request: Request, rt: RuntimeDep) -> Response:
    """New recovery codes: a code first unless the second factor is fresh (spec 3b.2), then
    the new set once, with its download; the old set stops working."""
    return await _start_for_user(request, rt, "regenerate_codes")


@router.get("/auth/two-factor/replace")
async def replace_page(request: Request, rt: RuntimeDep) -> Response:
    """A new phone: a code first unless the second factor is fresh, then the new key's QR
    code and first code; the old key works until then (allowed under totp.enforce)."""
    return await _start_for_user(request, rt, "replace")


LOCK_ERRORS = {
    "lock": "The lock could not be changed.",
    "device": "That browser could not be forgotten.",
}


@router.post("/auth/two-factor/lock")
async def lock_action(
    request: Request,
    rt: RuntimeDep,
    csrf: Annotated[str, Form(max_length=128)],
    action: Annotated[str, Form(pattern="^(pair|open|close|unpair)$")],
    code: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    """Pair, open, close or unpair the user's lock (spec 3.13); all but closing weaken the
    second factor, so they need a fresh one or a code in the same form (spec 3b.2)."""
    session = await _signed_in(request, rt)
    if session is None:
        return _to_login(request)
    env = await environment_by_id(rt, session.environment_id)
    if not same_token(csrf, session_csrf(rt, session)):
        return _forged(request, env)
    actor = _actor(request, session)
    if action != "close":
        try:
            await require_fresh_factor(
                rt,
                actor,
                env,
                session.user_id,
                client_id=session.client_id,
                amr=session.amr,
                auth_time=session.auth_time,
                code=code,
            )
        except TwostepError as exc:
            text = translate(page_locale(request), exc.msgid, **exc.params)
            return await _settings_page(request, rt, session, env, error=text, status=exc.status)
    try:
        if action == "pair":
            await locks.pair_lock(rt, actor, env, session.user_id)
        elif action == "unpair":
            await locks.unpair_lock(rt, actor, env, session.user_id)
        else:
            await locks.set_lock(rt, actor, env, session.user_id, closed=action == "close")
    except TwostepError:
        return RedirectResponse("/auth/two-factor?error=lock", status_code=303)
    return RedirectResponse("/auth/two-factor", status_code=303)


@router.get("/auth/logout")
async def logout_page(request: Request, rt: RuntimeDep) -> Response:
    """A button that signs out (signing out is a POST, so a link elsewhere cannot do it)."""
    session = await _signed_in(request, rt)
    if session is None:
        return _signed_out(request, None)
    env = await environment_by_id(rt, session.environment_id)
    return render(request, "logout.html", env=env, csrf=session_csrf(rt, session))


@router.post("/auth/logout")
async def logout(
    request: Request, rt: RuntimeDep, csrf: Annotated[str, Form(max_length=128)]
) -> Response:
    session = await _signed_in(request, rt)
    if session is None:
        return _signed_out(request, None)
    env = await environment_by_id(rt, session.environment_id)
    if not same_token(csrf, session_csrf(rt, session)):
        return _forged(request, env)  # a forged form must not even clear the cookie
    await end_session(rt, request.cookies.get(SESSION_COOKIE))
    return _signed_out(request, env)


def _forged(request: Request, env: EnvironmentRecord) -> Response:
    """A form that did not come from our page (its CSRF token is not the session's)."""
    locale = page_locale(request)
    return message(
        request,
        env,
        translate(locale, "Please try again"),
        translate(locale, STALE_FORM),
        status=403,
        alert=True,
        link="/auth/two-factor",
        link_text=translate(locale, "Continue"),
    )


def _signed_out(request: Request, env: EnvironmentRecord | None) -> Response:
    locale = page_locale(request)
    response = message(
        request,
        env,
        translate(locale, "Signed out"),
        translate(locale, "You are signed out."),
        link=login_link(env) if env else None,
        link_text=translate(locale, "Sign in"),
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(JOURNEY_COOKIE, path="/")
    return response
