"""The auth config: spec defaults, RFC 7396 merge patch, strict validation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from twostep.errors import ValidationFailed
from twostep.policy import (
    JSON,
    AuthConfig,
    TotpOverride,
    apply_patch,
    effective_totp_params,
    load_config,
    merge_patch,
)

SPEC_DEFAULTS: dict[str, dict[str, Any]] = {
    "totp": {
        "active": True,
        "issuer": None,
        "algorithm": "SHA1",
        "digits": 6,
        "period": 30,
        "valid_past_tokens": 1,
        "valid_future_tokens": 1,
        "confirm_enrollment": True,
        "enforce": False,
        "max_failures": 5,
    },
    "recovery_codes": {"count": 5, "once_per_hours": 24},
    "delivery": {"webhook": None},
    "theme": {"title": "Twostep", "brand": None, "style_url": None, "logo_url": None},
    "lock": {"enabled": False},
    "remember_device": {"days": 0},
}

WEBHOOK: dict[str, Any] = {
    "endpoint": "https://sms.example.com/send",
    "headers": {"Authorization": "Bearer x"},
}


def test_defaults_equal_the_spec() -> None:
    assert AuthConfig().model_dump(mode="json") == SPEC_DEFAULTS


@pytest.mark.parametrize("stored", [None, {}, {"totp": {}}, {"lock": {}}])
def test_load_config_fills_missing_keys(stored: dict[str, Any] | None) -> None:
    assert load_config(stored) == AuthConfig()


def test_load_config_round_trips() -> None:
    config = apply_patch(AuthConfig(), {"totp": {"digits": 8}, "delivery": {"webhook": WEBHOOK}})
    assert load_config(json.loads(json.dumps(config.model_dump(mode="json")))) == config


def test_load_config_refuses_garbage_with_validation_failed() -> None:
    with pytest.raises(ValidationFailed):
        load_config({"totp": {"digits": 99}})


def test_config_is_frozen() -> None:
    config = AuthConfig()
    with pytest.raises(ValidationError):
        config.totp.digits = 8  # type: ignore[misc]


# RFC 7396 section 3 and every example of appendix A.
RFC_7396_CASES: list[tuple[JSON, JSON, JSON]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    (
        {
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged",
        },
        {
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": None},
            "tags": ["example"],
        },
        {
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890",
        },
    ),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_7396_CASES)
def test_merge_patch_rfc_7396(target: JSON, patch: JSON, expected: JSON) -> None:
    before = (copy.deepcopy(target), copy.deepcopy(patch))
    assert merge_patch(target, patch) == expected
    assert (target, patch) == before  # inputs untouched


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        ({"totp": {"digits": 8, "algorithm": "SHA512"}}, lambda c: c.totp.digits == 8),
        ({"totp": {"issuer": "Acme Corp"}}, lambda c: c.totp.issuer == "Acme Corp"),
        ({"recovery_codes": {"once_per_hours": 0}}, lambda c: c.recovery_codes.once_per_hours == 0),
        ({"delivery": {"webhook": WEBHOOK}}, lambda c: c.delivery.webhook.timeout_ms == 3000),
        ({"theme": {"logo_url": "/static/logo.svg"}}, lambda c: c.theme.logo_url.startswith("/")),
        ({"theme": {"style_url": "https://cdn.example.com/a.css"}}, lambda c: c.theme.style_url),
        ({"lock": {"enabled": True}}, lambda c: c.lock.enabled),
        ({}, lambda c: c == AuthConfig()),
    ],
)
def test_accepted_patches(patch: dict[str, Any], check: Any) -> None:
    assert check(apply_patch(AuthConfig(), patch))


def test_patch_keeps_other_fields() -> None:
    config = apply_patch(AuthConfig(), {"totp": {"digits": 8}, "theme": {"brand": "Acme"}})
    config = apply_patch(config, {"totp": {"period": 60}})
    assert (config.totp.digits, config.totp.period, config.theme.brand) == (8, 60, "Acme")


@pytest.mark.parametrize(
    ("reset", "expected"),
    [
        ({"totp": None}, SPEC_DEFAULTS["totp"]),
        ({"totp": {"digits": None}}, {**SPEC_DEFAULTS["totp"], "period": 60}),
        ({"delivery": {"webhook": None}}, SPEC_DEFAULTS["delivery"]),
        ({"delivery": None}, SPEC_DEFAULTS["delivery"]),
        ({"theme": {"brand": None}}, SPEC_DEFAULTS["theme"]),
    ],
)
def test_null_resets_to_default(reset: dict[str, Any], expected: dict[str, Any]) -> None:
    changed = {
        "totp": {"digits": 8, "period": 60},
        "delivery": {"webhook": WEBHOOK},
        "theme": {"brand": "Acme"},
    }
    config = apply_patch(apply_patch(AuthConfig(), changed), reset)
    section = next(iter(reset))
    assert config.model_dump(mode="json")[section] == expected


def test_webhook_field_reset_and_partial_update() -> None:
    config = apply_patch(AuthConfig(), {"delivery": {"webhook": {**WEBHOOK, "timeout_ms": 500}}})
    config = apply_patch(config, {"delivery": {"webhook": {"timeout_ms": None, "headers": {}}}})
    assert config.delivery.webhook is not None
    assert config.delivery.webhook.timeout_ms == 3000
    assert config.delivery.webhook.endpoint == WEBHOOK["endpoint"]
    # RFC 7396 merges objects: an empty object removes nothing; nulls remove headers.
    assert config.delivery.webhook.headers == WEBHOOK["headers"]
    config = apply_patch(config, {"delivery": {"webhook": {"headers": {"Authorization": None}}}})
    assert config.delivery.webhook is not None
    assert config.delivery.webhook.headers == {}


def _many_headers(count: int) -> dict[str, str]:
    return {f"X-H{i}": "v" for i in range(count)}


HOOK = ["delivery", "webhook"]


def _hook(fields: dict[str, Any]) -> dict[str, Any]:
    return {"delivery": {"webhook": {**WEBHOOK, **fields}}}


def _endpoint(url: str) -> dict[str, Any]:
    return {"delivery": {"webhook": {"endpoint": url}}}


def _headers(headers: dict[str, Any]) -> dict[str, Any]:
    return _hook({"headers": headers})


REFUSED: list[tuple[str, object, list[str | int]]] = [
    ("digits as string", {"totp": {"digits": "7"}}, ["totp", "digits"]),
    ("digits as float", {"totp": {"digits": 7.0}}, ["totp", "digits"]),
    ("digits as bool", {"totp": {"digits": True}}, ["totp", "digits"]),
    ("active as string", {"totp": {"active": "yes"}}, ["totp", "active"]),
    ("active as int", {"totp": {"active": 1}}, ["totp", "active"]),
    ("digits too small", {"totp": {"digits": 5}}, ["totp", "digits"]),
    ("digits too big", {"totp": {"digits": 9}}, ["totp", "digits"]),
    ("period too short", {"totp": {"period": 14}}, ["totp", "period"]),
    ("period too long", {"totp": {"period": 121}}, ["totp", "period"]),
    ("past window", {"totp": {"valid_past_tokens": 11}}, ["totp", "valid_past_tokens"]),
    ("future window", {"totp": {"valid_future_tokens": -1}}, ["totp", "valid_future_tokens"]),
    ("max failures 0", {"totp": {"max_failures": 0}}, ["totp", "max_failures"]),
    ("max failures 101", {"totp": {"max_failures": 101}}, ["totp", "max_failures"]),
    ("algorithm", {"totp": {"algorithm": "MD5"}}, ["totp", "algorithm"]),
    ("algorithm case", {"totp": {"algorithm": "sha1"}}, ["totp", "algorithm"]),
    ("issuer too long", {"totp": {"issuer": "x" * 65}}, ["totp", "issuer"]),
    ("issuer colon", {"totp": {"issuer": "Acme:Corp"}}, ["totp", "issuer"]),
    ("issuer empty", {"totp": {"issuer": ""}}, ["totp", "issuer"]),
    ("codes 0", {"recovery_codes": {"count": 0}}, ["recovery_codes", "count"]),
    ("codes 21", {"recovery_codes": {"count": 21}}, ["recovery_codes", "count"]),
    (
        "hours 721",
        {"recovery_codes": {"once_per_hours": 721}},
        ["recovery_codes", "once_per_hours"],
    ),
    ("unknown section", {"sms": {}}, ["sms"]),
    ("unknown field", {"totp": {"digit": 6}}, ["totp", "digit"]),
    ("unknown webhook field", _hook({"x": 1}), [*HOOK, "x"]),
    ("section not object", {"totp": 5}, ["totp"]),
    ("section list", {"lock": [True]}, ["lock"]),
    ("webhook no endpoint", {"delivery": {"webhook": {"timeout_ms": 500}}}, [*HOOK, "endpoint"]),
    ("endpoint scheme", _endpoint("ftp://x.example"), [*HOOK, "endpoint"]),
    ("endpoint relative", _endpoint("/hook"), [*HOOK, "endpoint"]),
    ("endpoint no host", _endpoint("https://"), [*HOOK, "endpoint"]),
    ("endpoint newline", _endpoint("https://a.example/\nx"), [*HOOK, "endpoint"]),
    ("endpoint too long", _endpoint("https://a.example/" + "x" * 2048), [*HOOK, "endpoint"]),
    ("timeout low", _hook({"timeout_ms": 99}), [*HOOK, "timeout_ms"]),
    ("timeout high", _hook({"timeout_ms": 30001}), [*HOOK, "timeout_ms"]),
    ("header value CRLF", _headers({"X-A": "v\r\nX-Evil: 1"}), [*HOOK, "headers"]),
    ("header value LF", _headers({"X-A": "v\nb"}), [*HOOK, "headers"]),
    ("header name CRLF", _headers({"X-A\r\nX-B": "v"}), [*HOOK, "headers"]),
    ("header name space", _headers({"X A": "v"}), [*HOOK, "headers"]),
    ("header name colon", _headers({"X-A:": "v"}), [*HOOK, "headers"]),
    ("header name empty", _headers({"": "v"}), [*HOOK, "headers"]),
    ("header value int", _headers({"X-A": 1}), [*HOOK, "headers", "X-A"]),
    ("header reserved", _headers({"Host": "evil"}), [*HOOK, "headers"]),
    ("header duplicate", _headers({"X-A": "1", "x-a": "2"}), [*HOOK, "headers"]),
    ("21 headers", _headers(_many_headers(21)), [*HOOK, "headers"]),
    ("title empty", {"theme": {"title": ""}}, ["theme", "title"]),
    ("title long", {"theme": {"title": "x" * 101}}, ["theme", "title"]),
    ("brand long", {"theme": {"brand": "x" * 101}}, ["theme", "brand"]),
    ("logo javascript", {"theme": {"logo_url": "javascript:alert(1)"}}, ["theme", "logo_url"]),
    (
        "logo protocol relative",
        {"theme": {"logo_url": "//evil.example/x.png"}},
        ["theme", "logo_url"],
    ),
    ("style relative", {"theme": {"style_url": "static/a.css"}}, ["theme", "style_url"]),
    ("style data", {"theme": {"style_url": "data:text/css,body{}"}}, ["theme", "style_url"]),
    ("lock as string", {"lock": {"enabled": "true"}}, ["lock", "enabled"]),
]


@pytest.mark.parametrize(
    ("patch", "loc"), [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_patches(patch: object, loc: list[str | int]) -> None:
    config = AuthConfig()
    with pytest.raises(ValidationFailed) as caught:
        apply_patch(config, patch)
    errors = caught.value.errors
    assert errors
    assert errors[0]["loc"][: len(loc)] == loc
    for error in errors:
        assert set(error) == {"loc", "msg", "type"}
    assert "\\r" not in json.dumps(errors)  # no input values echoed


def test_headers_limit_is_twenty() -> None:
    patch = {"delivery": {"webhook": {**WEBHOOK, "headers": _many_headers(20)}}}
    config = apply_patch(AuthConfig(), patch)
    assert config.delivery.webhook is not None
    assert len(config.delivery.webhook.headers) == 20


def test_error_values_are_not_echoed() -> None:
    secret = "Bearer s3cr3t\r\n"
    with pytest.raises(ValidationFailed) as caught:
        apply_patch(AuthConfig(), {"delivery": {"webhook": {**WEBHOOK, "headers": {"A": secret}}}})
    assert "s3cr3t" not in repr(caught.value.errors)


@pytest.mark.parametrize("patch", [None, [], [{"totp": {}}], "totp", 5, True])
def test_patch_must_be_an_object(patch: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        apply_patch(AuthConfig(), patch)
    assert caught.value.errors[0]["loc"] == []


def test_deeply_nested_patch_is_refused() -> None:
    patch: dict[str, Any] = {}
    inner = patch
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(ValidationFailed):
        apply_patch(AuthConfig(), patch)


def test_refused_patch_leaves_config_unchanged() -> None:
    config = apply_patch(AuthConfig(), {"totp": {"digits": 8}})
    with pytest.raises(ValidationFailed):
        apply_patch(config, {"totp": {"digits": 9}})
    assert config.totp.digits == 8


@pytest.mark.parametrize(
    ("env", "override", "expected"),
    [
        ({}, None, ("SHA1", 6, 30)),
        ({"digits": 8, "algorithm": "SHA256"}, None, ("SHA256", 8, 30)),
        ({}, TotpOverride(), ("SHA1", 6, 30)),
        ({}, TotpOverride(period=60), ("SHA1", 6, 60)),
        ({"period": 45}, TotpOverride(algorithm="SHA512", digits=7), ("SHA512", 7, 45)),
        ({"digits": 8}, TotpOverride(algorithm="SHA1", digits=6, period=15), ("SHA1", 6, 15)),
    ],
)
def test_effective_totp_params(
    env: dict[str, Any], override: TotpOverride | None, expected: tuple[str, int, int]
) -> None:
    config = apply_patch(AuthConfig(), {"totp": env})
    assert effective_totp_params(config, override) == expected


@pytest.mark.parametrize(
    "data",
    [{"digits": 9}, {"digits": "6"}, {"period": 10}, {"algorithm": "MD5"}, {"extra": 1}],
)
def test_totp_override_is_strict(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TotpOverride.model_validate(data)
