"""The admin console at /admin: an organization admin signs in with an API key of one
environment, lists its users with their two-factor state, resets an authenticator and edits
the environment's auth config. Plain HTML forms: no JavaScript.

The session is a cookie ``<api key id>.<expiry>.<hmac>`` signed with the server pepper: the
API key itself never goes into a cookie. Each request checks the signature and the expiry,
then reads the key by its id, so a revoked key ends its sessions at once. Every form carries
a CSRF token derived from the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from twostep.errors import NotFound, TotpNotEnrolled, Unauthorized, ValidationFailed
from twostep.i18n import translate
from twostep.policy import apply_patch
from twostep.services import accounts, enrollment
from twostep.services.accounts import UserView
from twostep.services.organizations import (
    authenticate,
    get_auth_config,
    list_api_keys,
    patch_auth_config,
    principal_by_key_id,
    revoke_api_key,
)
from twostep.services.runtime import Actor, Runtime, config_of
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.web.client_address import backend_actor
from twostep.web.deps import KeyIdPath, RuntimeDep, UserIdPath
from twostep.web.pages.rendering import page_locale, render, secure_cookies

router = APIRouter(tags=["admin console"], include_in_schema=False)

ADMIN_COOKIE = "twostep_admin"
# The pre-session cookie the sign-in form's CSRF token is bound to (random, not a secret).
LOGIN_COOKIE = "twostep_admin_login"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
COOKIE_PATH = "/admin"
SESSION_TTL_S = 3600
PER_PAGE = 20
_KEY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_EXPIRY = re.compile(r"[0-9]{1,12}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")


# -- the session -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdminSession:
    """A signed-in admin: the API key's id, its environment, and the CSRF token of its forms."""

    key_id: str
    env: EnvironmentRecord
    csrf: str


def _sign(rt: Runtime, message: str) -> str:
    return hmac.new(rt.keyring.pepper, message.encode(), hashlib.sha256).hexdigest()


def _session_cookie(rt: Runtime, key_id: str, expiry: int) -> str:
    return f"{key_id}.{expiry}.{_sign(rt, f'admin:{key_id}:{expiry}')}"


def _csrf_token(rt: Runtime, cookie: str) -> str:
    return _sign(rt, f"admin-csrf:{cookie}")


def _signed_key_id(rt: Runtime, cookie: str) -> str | None:
    """The key id of a well-formed, authentic, unexpired session cookie; else None."""
    parts = cookie.split(".")
    if len(parts) != 3:
        return None
    key_id, expiry, signature = parts
    if not (_KEY_ID.fullmatch(key_id) and _EXPIRY.fullmatch(expiry)):
        return None
    expected = _sign(rt, f"admin:{key_id}:{expiry}")
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    if int(expiry) <= rt.clock.now():
        return None
    return key_id


async def _admin(request: Request, rt: Runtime) -> AdminSession | None:
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


async def _posting(request: Request, rt: Runtime, csrf: str, back: str) -> AdminSession | Response:
    """The session of a form post, or the page that refuses it (signed out, or a forged form)."""
    session = await _admin(request, rt)
    if session is None:
        return _to_sign_in(request)
    if not _csrf_ok(session, csrf):
        return _csrf_refused(request, session, back)
    return session


def _csrf_ok(session: AdminSession, token: str) -> bool:
    return hmac.compare_digest(token.encode(), session.csrf.encode())


def _actor(request: Request, session: AdminSession) -> Actor:
    return backend_actor(request, f"admin:{session.key_id}")


def _to_sign_in(request: Request) -> Response:
    """Back to the sign-in form; a cookie that is no longer good is dropped."""
    if ADMIN_COOKIE not in request.cookies:
        return RedirectResponse("/admin", status_code=303)
    response = RedirectResponse("/admin?session=ended", status_code=303)
    response.delete_cookie(ADMIN_COOKIE, path=COOKIE_PATH)
    return response


# -- rendering ---------------------------------------------------------------------------------


def _t(request: Request, msgid: str, **params: Any) -> str:
    return translate(page_locale(request), msgid, **params)


def _page(
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


def _message(
    request: Request,
    session: AdminSession | None,
    heading: str,
    text: str,
    *,
    status: int,
    link: str | None = None,
    link_text: str = "",
) -> Response:
    return _page(
        request,
        "message.html",
        session,
        status=status,
        heading=heading,
        text=text,
        link=link,
        link_text=link_text,
    )


def _csrf_refused(request: Request, session: AdminSession, back: str) -> Response:
    return _message(
        request,
        session,
        _t(request, "Request refused"),
        _t(
            request,
            "This form has expired or did not come from this console. "
            "Reload the page and try again.",
        ),
        status=403,
        link=back,
        link_text=_t(request, "Back"),
    )


def _iso_date(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()


def _iso_time(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


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
        "enrolled_at": _iso_time(two_factor.enrolled_at),
        "recovery_codes_left": two_factor.recovery_codes_remaining,
        "lock": "none" if user.lock_paired_at is None else "closed" if user.lock_closed else "open",
        "created_at": _iso_time(user.created_at),
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
    return _sign(rt, f"admin-login:{nonce}")


def _sign_in_form(
    request: Request,
    rt: Runtime,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    nonce = _login_nonce(request) or secrets.token_urlsafe(24)
    response = _page(
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
    if await _admin(request, rt) is not None:
        return RedirectResponse("/admin/users", status_code=303)
    notice = SIGN_IN_NOTICES.get(session or "")
    return _sign_in_form(request, rt, notice=_t(request, notice) if notice else None)


@router.post("/admin/login")
async def sign_in(
    request: Request,
    rt: RuntimeDep,
    api_key: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    nonce = _login_nonce(request)
    if nonce is None or not hmac.compare_digest(csrf.encode(), _login_csrf(rt, nonce).encode()):
        return _sign_in_form(
            request,
            rt,
            status=403,
            error=_t(
                request,
                "This sign-in form has expired or did not come from this console. "
                "Reload the page and try again.",
            ),
        )
    try:
        principal = await authenticate(rt, request.app.state.principal_cache, api_key.strip())
    except Unauthorized:
        return _sign_in_form(
            request, rt, status=401, error=_t(request, "This API key is not valid.")
        )
    if principal.environment is None:
        return _sign_in_form(
            request,
            rt,
            status=403,
            error=_t(
                request,
                "This is a server-admin key. The console manages one environment: sign in "
                "with the API key of its sandbox or production environment.",
            ),
        )
    expiry = int(rt.clock.now()) + SESSION_TTL_S
    response = RedirectResponse("/admin/users", status_code=303)
    response.set_cookie(
        ADMIN_COOKIE,
        _session_cookie(rt, principal.key_id, expiry),
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
    session = await _posting(request, rt, csrf, "/admin/users")
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
    session = await _admin(request, rt)
    if session is None:
        return _to_sign_in(request)
    q = q.strip()
    number = _page_number(page)
    found = await accounts.list_users(rt, session.env, page=number, per_page=PER_PAGE, q=q)
    pages = max(1, math.ceil(found.total / PER_PAGE))
    return _page(
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


USER_NOTICES = {"reset": "Two-factor authentication was reset: the user must enroll again."}
USER_ERRORS = {"totp_not_enrolled": TotpNotEnrolled.default_msgid}


@router.get("/admin/users/{user_id}")
async def user_page(
    request: Request,
    rt: RuntimeDep,
    user_id: UserIdPath,
    done: Annotated[str | None, Query(max_length=20)] = None,
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """One user: identifiers, status, two-factor state, lock; and the reset button."""
    session = await _admin(request, rt)
    if session is None:
        return _to_sign_in(request)
    try:
        view = await accounts.get_user(rt, session.env, user_id)
    except NotFound:
        return _message(
            request,
            session,
            _t(request, "Not found"),
            _t(request, "Unknown user."),
            status=404,
            link="/admin/users",
            link_text=_t(request, "Users"),
        )
    notice = USER_NOTICES.get(done or "")
    problem = USER_ERRORS.get(error or "")
    return _page(
        request,
        "user.html",
        session,
        section="users",
        user=_user_row(view),
        notice=_t(request, notice) if notice else None,
        error=_t(request, problem) if problem else None,
    )


@router.post("/admin/users/{user_id}/reset-two-factor")
async def reset_two_factor(
    request: Request,
    rt: RuntimeDep,
    user_id: UserIdPath,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Remove the user's authenticator and recovery codes (spec 3.8), as this API key."""
    back = f"/admin/users/{user_id}"
    session = await _posting(request, rt, csrf, back)
    if not isinstance(session, AdminSession):
        return session
    try:
        await enrollment.reset(rt, _actor(request, session), session.env, user_id)
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
    session = await _admin(request, rt)
    if session is None:
        return _to_sign_in(request)
    keys = await list_api_keys(rt, session.env)
    notice = KEY_NOTICES.get(done or "")
    return _page(
        request,
        "api_keys.html",
        session,
        section="api_keys",
        keys=[
            {
                "id": key.id,
                "name": key.name,
                "prefix": key.prefix or "",
                "created_at": _iso_time(key.created_at),
                "last_used_at": _iso_time(key.last_used_at),
                "revoked_at": _iso_time(key.revoked_at),
                "current": key.id == session.key_id,
            }
            for key in keys
        ],
        notice=_t(request, notice) if notice else None,
    )


@router.post("/admin/api-keys/{key_id}/revoke")
async def revoke_key(
    request: Request,
    rt: RuntimeDep,
    key_id: KeyIdPath,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Revoke one of the environment's keys; revoking the session's own key signs it out."""
    session = await _posting(request, rt, csrf, "/admin/api-keys")
    if not isinstance(session, AdminSession):
        return session
    try:
        await revoke_api_key(
            rt,
            _actor(request, session),
            session.env,
            key_id,
            cache=request.app.state.principal_cache,
        )
    except NotFound:
        return _message(
            request,
            session,
            _t(request, "Not found"),
            _t(request, "Unknown API key."),
            status=404,
            link="/admin/api-keys",
            link_text=_t(request, "API keys"),
        )
    return RedirectResponse("/admin/api-keys?done=revoked", status_code=303)


# -- auth config -------------------------------------------------------------------------------

CHECKBOXES = ("totp.active", "totp.confirm_enrollment", "totp.enforce", "lock.enabled")
INTEGERS = (
    "totp.digits",
    "totp.period",
    "totp.valid_past_tokens",
    "totp.valid_future_tokens",
    "totp.max_failures",
    "recovery_codes.count",
    "recovery_codes.once_per_hours",
)
TEXTS = ("totp.algorithm", "theme.title")
OPTIONAL_TEXTS = ("totp.issuer", "theme.brand", "theme.style_url", "theme.logo_url")  # "" = unset
ENDPOINT = "delivery.webhook.endpoint"
TIMEOUT = "delivery.webhook.timeout_ms"
HEADERS = "delivery.webhook.headers"
WEBHOOK_FIELDS = (ENDPOINT, TIMEOUT, HEADERS)
FIELDS = (*CHECKBOXES, *INTEGERS, *TEXTS, *OPTIONAL_TEXTS, *WEBHOOK_FIELDS)
DEFAULT_TIMEOUT_MS = 3000
ALGORITHMS = ("SHA1", "SHA256", "SHA512")

UNIQUE_HEADERS = "Header names must be unique, ignoring case."
# The validators' texts of twostep.policy, as catalogue entries.
VALUE_ERRORS = {
    "must not contain spaces or control characters": (
        "Must not contain spaces or control characters."
    ),
    "must be an http or https URL": "Must be an http or https URL.",
    "must not contain ':' or control characters": "Must not contain ':' or control characters.",
    "header names must be HTTP tokens of at most 128 characters": (
        "Header names must be HTTP tokens of at most 128 characters."
    ),
    "header values must be printable ASCII of at most 1024 characters": (
        "Header values must be printable ASCII of at most 1024 characters."
    ),
    "this header is set by the server": "This header is set by the server.",
    # twostep.services.outbound's, for the webhook endpoint (spec 3b.6).
    "must be an https URL (http only for networks the server allows)": (
        "Must be an https URL (http only for networks the server allows)."
    ),
    "must not reach a loopback, private or otherwise internal address": (
        "Must not reach a loopback, private or otherwise internal address."
    ),
    "header names must be unique, ignoring case": UNIQUE_HEADERS,
}
INVALID_VALUE = "This value is not valid."
HEADER_LINE = 'Write one header a line, as "Name: value".'


def _lookup(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _form_values(document: dict[str, Any]) -> dict[str, Any]:
    """The auth config as the form shows it: checkboxes as bools, everything else as text."""
    values: dict[str, Any] = {name: bool(_lookup(document, name)) for name in CHECKBOXES}
    for name in (*INTEGERS, *TEXTS, *OPTIONAL_TEXTS, ENDPOINT):
        found = _lookup(document, name)
        values[name] = "" if found is None else str(found)
    webhook = _lookup(document, "delivery.webhook") or {}
    values[TIMEOUT] = str(webhook.get("timeout_ms", DEFAULT_TIMEOUT_MS))
    values[HEADERS] = "\n".join(f"{k}: {v}" for k, v in (webhook.get("headers") or {}).items())
    return values


def _submitted(form: Any) -> dict[str, Any]:
    """The posted fields: an unchecked checkbox is not sent, so it means false."""
    values: dict[str, Any] = {}
    for name in FIELDS:
        raw = form.get(name)
        text = raw if isinstance(raw, str) else ""
        values[name] = bool(text) if name in CHECKBOXES else text.strip()
    return values


def _integer(text: str) -> int | str:
    """A whole number; anything else stays text, which the strict config refuses by field."""
    return int(text) if _INTEGER.fullmatch(text) else text


def _put(patch: dict[str, Any], dotted: str, value: Any) -> None:
    *sections, name = dotted.split(".")
    for section in sections:
        patch = patch.setdefault(section, {})
    patch[name] = value


FieldErrors = dict[str, list[tuple[str, dict[str, Any]]]]


def _headers(text: str, errors: FieldErrors) -> dict[str, str]:
    """``Name: value`` lines as a mapping; a malformed line is an error of the field."""
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            errors.setdefault(HEADERS, []).append((HEADER_LINE, {}))
            continue
        if name.lower() in seen:
            errors.setdefault(HEADERS, []).append((UNIQUE_HEADERS, {}))
            continue
        seen.add(name.lower())
        headers[name] = value.strip()
    return headers


def _patch(values: dict[str, Any], current: dict[str, Any], errors: FieldErrors) -> dict[str, Any]:
    """The JSON merge patch that makes the stored config what the form says."""
    patch: dict[str, Any] = {}
    for name in CHECKBOXES:
        _put(patch, name, values[name])
    for name in INTEGERS:
        _put(patch, name, _integer(values[name]))
    for name in TEXTS:
        _put(patch, name, values[name])
    for name in OPTIONAL_TEXTS:
        _put(patch, name, values[name] or None)
    headers = _headers(values[HEADERS], errors)
    if values[ENDPOINT]:
        # A merge patch merges objects: headers the form no longer lists must be nulled.
        old = _lookup(current, "delivery.webhook.headers") or {}
        removed = {name: None for name in old if name not in headers}
        webhook: dict[str, Any] | None = {
            "endpoint": values[ENDPOINT],
            "timeout_ms": _integer(values[TIMEOUT]),
            "headers": {**removed, **headers},
        }
    else:
        webhook = None  # no endpoint: no webhook
    _put(patch, "delivery.webhook", webhook)
    return patch


def _field_of(loc: list[Any]) -> str | None:
    """The form field an error's ``loc`` points into (the longest one that prefixes it)."""
    parts = [str(part) for part in loc]
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in FIELDS:
            return name
    return None


def _limit(message: str) -> str:
    found = re.search(r"-?[0-9]+", message)
    return found.group(0) if found else "?"


def _explained(error: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A catalogue msgid (and its parameters) for one of pydantic's errors."""
    kind, message = str(error.get("type")), str(error.get("msg", ""))
    match kind:
        case "greater_than_equal":
            return "Must be at least {limit}.", {"limit": _limit(message)}
        case "less_than_equal":
            return "Must be at most {limit}.", {"limit": _limit(message)}
        case "int_type" | "int_parsing" | "int_from_float":
            return "Enter a whole number.", {}
        case "string_too_long":
            return "Must have at most {limit} characters.", {"limit": _limit(message)}
        case "string_too_short":
            return "Must not be empty.", {}
        case "too_long":
            return "At most {limit} entries.", {"limit": _limit(message)}
        case "literal_error":
            return "Choose one of the listed values.", {}
        case "value_error":
            return VALUE_ERRORS.get(message.removeprefix("Value error, "), INVALID_VALUE), {}
    return INVALID_VALUE, {}


def _config_form(
    request: Request,
    session: AdminSession,
    rt: Runtime,
    values: dict[str, Any],
    signing_key: str | None,
    *,
    status: int = 200,
    errors: FieldErrors | None = None,
    general: list[str] | None = None,
    notice: str | None = None,
) -> Response:
    locale = page_locale(request)
    shown = {
        name: [translate(locale, msgid, **params) for msgid, params in found]
        for name, found in (errors or {}).items()
    }
    return _page(
        request,
        "config.html",
        session,
        status=status,
        section="config",
        values=values,
        errors=shown,
        general_errors=general or [],
        algorithms=ALGORITHMS,
        signing_key=signing_key,
        server_totp_enabled=rt.settings.totp_enabled,
        notice=notice,
    )


@router.get("/admin/config")
async def config_page(
    request: Request,
    rt: RuntimeDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The environment's auth config (spec section 4) as a form."""
    session = await _admin(request, rt)
    if session is None:
        return _to_sign_in(request)
    document = await get_auth_config(rt, session.env)
    notice = _t(request, "The auth config is saved.") if done == "saved" else None
    return _config_form(
        request,
        session,
        rt,
        _form_values(document),
        _lookup(document, "delivery.webhook.signing_key"),
        notice=notice,
    )


@router.post("/admin/config")
async def save_config(request: Request, rt: RuntimeDep) -> Response:
    """Save the form as a JSON merge patch; refused values come back with their messages."""
    session = await _admin(request, rt)
    if session is None:
        return _to_sign_in(request)
    form = await request.form()
    token = form.get("csrf")
    if not _csrf_ok(session, token if isinstance(token, str) else ""):
        return _csrf_refused(request, session, "/admin/config")
    values = _submitted(form)
    current = await get_auth_config(rt, session.env)
    errors: FieldErrors = {}
    patch = _patch(values, current, errors)
    general: list[str] = []
    try:
        if errors:  # not saved, but checked: every field's messages show at once
            apply_patch(config_of(session.env.auth_config), patch)
        else:
            await patch_auth_config(rt, _actor(request, session), session.env, patch)
            return RedirectResponse("/admin/config?done=saved", status_code=303)
    except ValidationFailed as exc:
        for error in exc.errors:
            field = _field_of(list(error.get("loc", [])))
            msgid, params = _explained(error)
            if field is None:
                general.append(_t(request, msgid, **params))
            else:
                errors.setdefault(field, []).append((msgid, params))
        if not exc.errors:
            general.append(_t(request, exc.msgid, **exc.params))
    return _config_form(
        request,
        session,
        rt,
        values,
        _lookup(current, "delivery.webhook.signing_key"),
        status=422,
        errors=errors,
        general=general,
    )
