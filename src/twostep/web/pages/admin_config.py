"""The admin console's auth config form (spec section 4): the stored config as form fields,
and the form back as a JSON merge patch. A refused value comes back with its field's message,
chosen by pydantic's error type or by the code of the rule it broke, never by English text.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from twostep.errors import ValidationFailed
from twostep.i18n import translate
from twostep.policy import apply_patch
from twostep.services.organizations import get_auth_config, patch_auth_config
from twostep.services.runtime import Runtime
from twostep.web.deps import RuntimeDep
from twostep.web.pages.admin_session import (
    AdminSession,
    actor_of,
    csrf_ok,
    csrf_refused,
    render_page,
    session_of,
    to_sign_in,
    translated,
)
from twostep.web.pages.rendering import page_locale

__all__ = [
    "ALGORITHMS",
    "CHECKBOXES",
    "DEFAULT_TIMEOUT_MS",
    "ENDPOINT",
    "FIELDS",
    "HEADERS",
    "HEADER_LINE",
    "INTEGERS",
    "INVALID_VALUE",
    "OPTIONAL_TEXTS",
    "RULE_TEXTS",
    "TEXTS",
    "TIMEOUT",
    "UNIQUE_HEADERS",
    "WEBHOOK_FIELDS",
    "FieldErrors",
    "config_page",
    "router",
    "save_config",
]

router = APIRouter(tags=["admin console"], include_in_schema=False)

_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")

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
    "remember_device.days",
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
# The catalogue entry for each broken rule's code (``policy.Rule``, and for the webhook endpoint
# ``outbound.Refusal``, spec 3b.6): never matched by the English message.
RULE_TEXTS: dict[str, str] = {
    "spaces_or_control": "Must not contain spaces or control characters.",
    "not_http_url": "Must be an http or https URL.",
    "colon_or_control": "Must not contain ':' or control characters.",
    "header_name": "Header names must be HTTP tokens of at most 128 characters.",
    "header_value": "Header values must be printable ASCII of at most 1024 characters.",
    "reserved_header": "This header is set by the server.",
    "duplicate_header": UNIQUE_HEADERS,
    "not_https": "Must be an https URL (http only for networks the server allows).",
    "internal_address": "Must not reach a loopback, private or otherwise internal address.",
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


def _explained(error: dict[str, Any], rule: str | None) -> tuple[str, dict[str, Any]]:
    """A catalogue msgid (and its parameters) for one of pydantic's errors, ``rule`` the code of
    the rule its value broke, if any."""
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
            return RULE_TEXTS.get(rule or "", INVALID_VALUE), {}
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
    return render_page(
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
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    document = await get_auth_config(rt, session.env)
    notice = translated(request, "The auth config is saved.") if done == "saved" else None
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
    session = await session_of(request, rt)
    if session is None:
        return to_sign_in(request)
    form = await request.form()
    token = form.get("csrf")
    if not csrf_ok(session, token if isinstance(token, str) else ""):
        return csrf_refused(request, session, "/admin/config")
    values = _submitted(form)
    current = await get_auth_config(rt, session.env)
    errors: FieldErrors = {}
    patch = _patch(values, current, errors)
    general: list[str] = []
    try:
        if errors:  # not saved, but checked: every field's messages show at once
            apply_patch(session.env.config, patch)
        else:
            await patch_auth_config(rt, actor_of(request, session), session.env, patch)
            return RedirectResponse("/admin/config?done=saved", status_code=303)
    except ValidationFailed as exc:
        for error in exc.errors:
            field = _field_of(list(error.get("loc", [])))
            msgid, params = _explained(error, exc.rules.get(tuple(error.get("loc", []))))
            if field is None:
                general.append(translated(request, msgid, **params))
            else:
                errors.setdefault(field, []).append((msgid, params))
        if not exc.errors:
            general.append(translated(request, exc.msgid, **exc.params))
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
