"""The services on both engines with a frozen clock: enrollment and verification in-process."""

from __future__ import annotations

from twostep.clock import FrozenClock
from twostep.otp import b32decode, code_at, parse_key_uri
from twostep.services import enrollment, verification
from twostep.services.accounts import create_user
from twostep.services.organizations import create_organization, environment_for
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.organizations import Principal

ACTOR = Actor("test", "192.0.2.1")


async def test_enroll_and_verify_with_frozen_clock(runtime: Runtime, clock: FrozenClock) -> None:
    await create_organization(runtime, ACTOR, name="Acme", domain="acme", email_domains=[])
    env = await environment_for(runtime, Principal("test", None), "acme", "production")
    user = await create_user(runtime, ACTOR, env, {"email": "a@acme.test"})
    registration = await enrollment.register(runtime, ACTOR, env, user.user.id)
    key = parse_key_uri(registration.uri)
    assert key.secret == b32decode(registration.secret)
    codes = await enrollment.confirm(
        runtime, ACTOR, env, user.user.id, code_at(key.secret, key.params, clock.now())
    )
    assert len(codes) == 5
    clock.advance(30)
    await verification.verify_code(
        runtime, ACTOR, env, user.user.id, code_at(key.secret, key.params, clock.now())
    )
