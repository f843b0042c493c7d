"""The account name an authenticator app shows (spec 3.3): email, else username, else phone."""

from __future__ import annotations

import pytest

from tests.services.support import ACTOR, new_environment
from twostep.otp import parse_key_uri
from twostep.services import enrollment
from twostep.services.accounts import create_user
from twostep.services.runtime import Runtime


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"email": "ann@acme.test", "username": "ann", "phone": "+33612345678"}, "ann@acme.test"),
        ({"username": "bob.martin", "phone": "+33612345679"}, "bob.martin"),
        ({"phone": "+33612345670"}, "+33612345670"),
    ],
    ids=["email", "username", "phone"],
)
async def test_the_label_falls_back_to_username_then_phone(
    runtime: Runtime, fields: dict[str, str], label: str
) -> None:
    env = await new_environment(runtime)
    user = await create_user(runtime, ACTOR, env, fields)
    registration = await enrollment.register(runtime, ACTOR, env, user.user.id)
    key = parse_key_uri(registration.uri)
    assert key.account == label
    assert key.issuer == "Acme"
