"""The one home of identifier rules and of the codes of broken config rules."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from twostep.errors import ValidationFailed
from twostep.identifiers import DOMAIN_PATTERN, Domain, Email, Username, field_errors
from twostep.policy import AuthConfig, Rule, apply_patch
from twostep.services.outbound import Refusal
from twostep.web.pages.admin_config import RULE_TEXTS


@pytest.mark.parametrize(
    ("kind", "value", "valid"),
    [
        (Domain, "acme", True),
        (Domain, "a" * 52, True),
        (Domain, "a" * 53, False),  # "<domain>-production" must stay a client id
        (Domain, "-acme", False),
        (Domain, "Acme", False),
        (Email, "ann@acme.test", True),
        (Email, "ann@@acme.test", False),
        (Username, "ann.smith+2", True),
        (Username, "ann@acme.test", False),  # one text names one account
        (Username, "ann smith", False),
    ],
)
def test_identifier_rules(kind: object, value: str, valid: bool) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(kind)
    if valid:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_field_errors_never_echo_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Domain).validate_python("secret\r\nvalue")
    errors = field_errors(caught.value, "body", "domain")
    assert [error["loc"] for error in errors] == [["body", "domain"]]
    assert "secret" not in str(errors)
    assert DOMAIN_PATTERN in errors[0]["msg"]


def test_every_rule_code_has_a_console_text() -> None:
    assert set(get_args(Rule)) | set(get_args(Refusal)) == set(RULE_TEXTS)


def test_a_broken_rule_carries_its_code_beside_the_api_shape() -> None:
    with pytest.raises(ValidationFailed) as caught:
        apply_patch(AuthConfig(), {"totp": {"issuer": "a:b"}, "theme": {"logo_url": "ftp://x"}})
    assert all(set(error) == {"loc", "msg", "type"} for error in caught.value.errors)
    assert caught.value.rules == {
        ("totp", "issuer"): "colon_or_control",
        ("theme", "logo_url"): "not_http_url",
    }
