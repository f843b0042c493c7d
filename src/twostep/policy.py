"""The auth config of an environment (spec section 4) with its defaults, and JSON merge patch."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeAlias, cast
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from twostep.errors import ValidationFailed

__all__ = [
    "JSON",
    "RESERVED_HEADERS",
    "AuthConfig",
    "DeliveryConfig",
    "LockConfig",
    "RecoveryCodesConfig",
    "ThemeConfig",
    "TotpConfig",
    "TotpOverride",
    "WebhookConfig",
    "apply_patch",
    "effective_totp_params",
    "load_config",
    "merge_patch",
]

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None

Algorithm = Literal["SHA1", "SHA256", "SHA512"]
MAX_PATCH_DEPTH = 16

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]{0,1024}")
# Framing headers the HTTP client sets itself (letting a tenant set them would corrupt or
# redirect requests), and the signature header, which only the server may write (spec 3b.6).
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "twostep-signature"}
)


def _http_url(value: str) -> str:
    """An absolute http(s) URL with a host and no whitespace or control characters."""
    if _CONTROL.search(value) or " " in value:
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL")
    return value


def _url_or_path(value: str) -> str:
    """An http(s) URL or a server path starting with one '/'."""
    if value.startswith("/") and not value.startswith("//"):
        if _CONTROL.search(value) or " " in value or "\\" in value:
            raise ValueError("must not contain spaces or control characters")
        return value
    return _http_url(value)


def _issuer(value: str) -> str:
    """An issuer fit for a key URI label: no colon (the label separator), no control chars."""
    if ":" in value or _CONTROL.search(value):
        raise ValueError("must not contain ':' or control characters")
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    """Header names are HTTP tokens, values have no CR/LF; no duplicates, no framing headers."""
    seen: set[str] = set()
    for name, header_value in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError("header names must be HTTP tokens of at most 128 characters")
        if not _HEADER_VALUE.fullmatch(header_value):
            raise ValueError("header values must be printable ASCII of at most 1024 characters")
        lowered = name.lower()
        if lowered in RESERVED_HEADERS:
            raise ValueError("this header is set by the server")
        if lowered in seen:
            raise ValueError("header names must be unique, ignoring case")
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


class AuthConfig(_Section):
    """The auth config of one environment; every field has the spec default."""

    totp: TotpConfig = Field(default_factory=TotpConfig)
    recovery_codes: RecoveryCodesConfig = Field(default_factory=RecoveryCodesConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    theme: ThemeConfig = Field(default_factory=ThemeConfig)
    lock: LockConfig = Field(default_factory=LockConfig)


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


def _validate(data: object) -> AuthConfig:
    """An AuthConfig from JSON data, or ValidationFailed."""
    try:
        return AuthConfig.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=_errors(exc)) from None


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
