"""The auth config of an environment (spec section 4) with its defaults, and JSON merge patch."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeAlias, cast
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from twostep.errors import ValidationFailed

__all__ = [
    "JSON",
    "MAX_PATCH_DEPTH",
    "MAX_REMEMBER_DAYS",
    "RESERVED_HEADERS",
    "Algorithm",
    "AuthConfig",
    "DeliveryConfig",
    "HttpUrl",
    "Issuer",
    "LockConfig",
    "RecoveryCodesConfig",
    "RememberDeviceConfig",
    "Rule",
    "RuleBroken",
    "ThemeConfig",
    "TotpConfig",
    "TotpOverride",
    "UrlOrPath",
    "WebhookConfig",
    "apply_patch",
    "effective_totp_params",
    "load_config",
    "merge_patch",
    "parse_config",
]

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None

Algorithm = Literal["SHA1", "SHA256", "SHA512"]
MAX_PATCH_DEPTH = 16
MAX_REMEMBER_DAYS = 90

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]{0,1024}")
# Framing headers the HTTP client sets itself (letting a tenant set them would corrupt or
# redirect requests), and the signature header, which only the server may write (spec 3b.6).
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "twostep-signature"}
)


# The rules a config value can break beyond its type and bounds: a stable code each, which
# ``ValidationFailed.rules`` carries (the admin console shows its own text for it; the API
# shows the English message below, and not the code).
Rule = Literal[
    "spaces_or_control",
    "not_http_url",
    "colon_or_control",
    "header_name",
    "header_value",
    "reserved_header",
    "duplicate_header",
]
_RULE_TEXTS: dict[Rule, str] = {
    "spaces_or_control": "must not contain spaces or control characters",
    "not_http_url": "must be an http or https URL",
    "colon_or_control": "must not contain ':' or control characters",
    "header_name": "header names must be HTTP tokens of at most 128 characters",
    "header_value": "header values must be printable ASCII of at most 1024 characters",
    "reserved_header": "this header is set by the server",
    "duplicate_header": "header names must be unique, ignoring case",
}


class RuleBroken(ValueError):
    """A value breaks ``rule``; its text is the rule's English message (pydantic reports it as
    a ``value_error``)."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(_RULE_TEXTS[rule])
        self.rule: Rule = rule


def _http_url(value: str) -> str:
    """An absolute http(s) URL with a host and no whitespace or control characters."""
    if _CONTROL.search(value) or " " in value:
        raise RuleBroken("spaces_or_control")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise RuleBroken("not_http_url")
    return value


def _url_or_path(value: str) -> str:
    """An http(s) URL or a server path starting with one '/'."""
    if value.startswith("/") and not value.startswith("//"):
        if _CONTROL.search(value) or " " in value or "\\" in value:
            raise RuleBroken("spaces_or_control")
        return value
    return _http_url(value)


def _issuer(value: str) -> str:
    """An issuer fit for a key URI label: no colon (the label separator), no control chars."""
    if ":" in value or _CONTROL.search(value):
        raise RuleBroken("colon_or_control")
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    """Header names are HTTP tokens, values have no CR/LF; no duplicates, no framing headers."""
    seen: set[str] = set()
    for name, header_value in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise RuleBroken("header_name")
        if not _HEADER_VALUE.fullmatch(header_value):
            raise RuleBroken("header_value")
        lowered = name.lower()
        if lowered in RESERVED_HEADERS:
            raise RuleBroken("reserved_header")
        if lowered in seen:
            raise RuleBroken("duplicate_header")
        seen.add(lowered)
    return value


HttpUrl = Annotated[str, Field(max_length=2048), AfterValidator(_http_url)]
UrlOrPath = Annotated[str, Field(max_length=2048), AfterValidator(_url_or_path)]
Issuer = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_issuer)]


class _Section(BaseModel):
    """Frozen, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class TotpConfig(_Section):
    """TOTP parameters and behaviour (spec 3)."""

    active: bool = True
    issuer: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_issuer)] | None = (
        None
    )
    algorithm: Algorithm = "SHA1"
    digits: int = Field(6, ge=6, le=8)
    period: int = Field(30, ge=15, le=120)
    valid_past_tokens: int = Field(1, ge=0, le=10)
    valid_future_tokens: int = Field(1, ge=0, le=10)
    confirm_enrollment: bool = True
    enforce: bool = False
    max_failures: int = Field(5, ge=1, le=100)


class RecoveryCodesConfig(_Section):
    """How many recovery codes are issued and how often one may be used (spec 3.9)."""

    count: int = Field(5, ge=1, le=20)
    once_per_hours: int = Field(24, ge=0, le=720)


class WebhookConfig(_Section):
    """Where the current code is POSTed during login (spec 3.11)."""

    endpoint: HttpUrl
    timeout_ms: int = Field(3000, ge=100, le=30000)
    headers: Annotated[dict[str, str], Field(max_length=20), AfterValidator(_headers)] = Field(
        default_factory=dict
    )


class DeliveryConfig(_Section):
    """Code delivery channels."""

    webhook: WebhookConfig | None = None


class ThemeConfig(_Section):
    """Branding of the hosted pages."""

    title: str = Field("Twostep", min_length=1, max_length=100)
    brand: str | None = Field(None, max_length=100)
    style_url: UrlOrPath | None = None
    logo_url: UrlOrPath | None = None


class LockConfig(_Section):
    """Lock pairing (spec 3.13)."""

    enabled: bool = False


class RememberDeviceConfig(_Section):
    """Trust this browser: after a code, a browser may skip the code for ``days`` (0: off)."""

    days: int = Field(0, ge=0, le=MAX_REMEMBER_DAYS)


class AuthConfig(_Section):
    """The auth config of one environment; every field has the spec default."""

    totp: TotpConfig = Field(default_factory=TotpConfig)
    recovery_codes: RecoveryCodesConfig = Field(default_factory=RecoveryCodesConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    theme: ThemeConfig = Field(default_factory=ThemeConfig)
    lock: LockConfig = Field(default_factory=LockConfig)
    remember_device: RememberDeviceConfig = Field(default_factory=RememberDeviceConfig)


class TotpOverride(_Section):
    """An application's own TOTP parameters; None fields follow the environment."""

    algorithm: Algorithm | None = None
    digits: int | None = Field(None, ge=6, le=8)
    period: int | None = Field(None, ge=15, le=120)


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7396 JSON merge patch: null deletes, objects merge recursively, anything else replaces.

    Neither argument is modified.
    """
    if not isinstance(patch, dict):
        return patch
    result: dict[str, JSON] = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def _depth(value: object) -> int:
    """How deeply objects and arrays nest in ``value`` (iteratively, so it cannot overflow)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if level <= MAX_PATCH_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, level) for child in children)
    return deepest


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as ``{loc, msg, type}``, without the offending input values."""
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _rules(exc: ValidationError) -> dict[tuple[str | int, ...], Rule]:
    """The rule broken at each ``loc`` where a value broke one (for ``ValidationFailed.rules``)."""
    rules: dict[tuple[str | int, ...], Rule] = {}
    for error in exc.errors(include_url=False, include_input=False):
        broken = error.get("ctx", {}).get("error")
        if isinstance(broken, RuleBroken):
            rules[tuple(error["loc"])] = broken.rule
    return rules


def _validate(data: object) -> AuthConfig:
    """An AuthConfig from JSON data, or ValidationFailed."""
    try:
        return AuthConfig.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=_errors(exc), rules=_rules(exc)) from None


def apply_patch(config: AuthConfig, patch: object) -> AuthConfig:
    """``config`` with a JSON merge patch applied; a null section or field resets its default."""
    if not isinstance(patch, dict):
        raise ValidationFailed(
            errors=[{"loc": [], "msg": "The patch must be a JSON object.", "type": "dict_type"}]
        )
    if _depth(patch) > MAX_PATCH_DEPTH:
        raise ValidationFailed(
            errors=[{"loc": [], "msg": "The patch is nested too deeply.", "type": "too_deep"}]
        )
    current = cast(JSON, config.model_dump(mode="json"))
    return _validate(merge_patch(current, cast(JSON, patch)))


def _without_reserved_headers(stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` without the webhook headers a tenant may no longer set (earlier versions
    accepted some): they are dropped, so that the rest of the config still loads."""
    delivery = stored.get("delivery")
    if not isinstance(delivery, dict) or not isinstance(delivery.get("webhook"), dict):
        return stored
    webhook: dict[str, Any] = delivery["webhook"]
    headers = webhook.get("headers")
    if not isinstance(headers, dict):
        return stored
    kept = {name: value for name, value in headers.items() if name.lower() not in RESERVED_HEADERS}
    return {**stored, "delivery": {**delivery, "webhook": {**webhook, "headers": kept}}}


def load_config(stored: dict[str, Any] | None) -> AuthConfig:
    """The AuthConfig a stored JSON document describes; missing keys take their defaults."""
    return _validate(_without_reserved_headers(stored or {}))


@lru_cache(maxsize=256)
def parse_config(stored_json: str) -> AuthConfig:
    """The AuthConfig stored as JSON text; parsed once per distinct text (configs are frozen)."""
    return load_config(json.loads(stored_json))


def effective_totp_params(
    config: AuthConfig, override: TotpOverride | None
) -> tuple[str, int, int]:
    """``(algorithm, digits, period)`` for new enrollments: the application's, else the env's."""
    totp = config.totp
    if override is None:
        return totp.algorithm, totp.digits, totp.period
    return (
        override.algorithm or totp.algorithm,
        totp.digits if override.digits is None else override.digits,
        totp.period if override.period is None else override.period,
    )
