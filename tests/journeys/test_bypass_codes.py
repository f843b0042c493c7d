"""An admin's one-time bypass code (issue 12.4), on both engines with a frozen clock: shown
once and stored hashed, accepted once at sign-in where a recovery code goes, dead after
``TWOSTEP_BYPASS_TTL_S``, leading into enrollment, and never a second factor (3b.2)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.services.support import ACTOR, PASSWORD, Phone, enroll, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.crypto import keyed_digest
from twostep.errors import ReauthenticationRequired, TotpNotEnrolled, ValidationFailed
from twostep.journeys import runner
from twostep.journeys.runner import StepAnswer, Success
from twostep.otp import b32encode, code_for_step, normalize_recovery_code, parse_key_uri, time_step
from twostep.services.accounts import get_user
from twostep.services.admin_recovery import issue_bypass_code, use_bypass_code
from twostep.services.audit import list_audit
from twostep.services.reauth import require_fresh_factor
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.tables import bypass_codes

CLIENT = "acme-production"
EMAIL = "ann@acme.test"


async def lost_phone(rt: Runtime, clock: FrozenClock) -> tuple[EnvironmentRecord, Phone]:
    env = await new_environment(rt)
    return env, await enroll(rt, clock, env, await new_user(rt, env, EMAIL))


async def enabled(rt: Runtime, env: EnvironmentRecord, phone: Phone) -> bool:
    return (await get_user(rt, env, phone.user_id)).two_factor.enabled


async def to_recovery_code(rt: Runtime, **vars: Any) -> StepAnswer:
    """A login up to the "Use a recovery code" field."""
    first = await runner.start_journey(rt, ACTOR, "login", CLIENT, {}, vars=vars or None)
    assert isinstance(first, StepAnswer)
    answer = {"username": EMAIL, "password": PASSWORD}
    asked = await runner.submit_answer(rt, ACTOR, first.session, answer)
    assert isinstance(asked, StepAnswer)
    assert asked.step_id == "TotpAuthentication"
    alternative = {"alternative": "recovery_code"}
    field = await runner.submit_answer(rt, ACTOR, asked.session, alternative)
    assert isinstance(field, StepAnswer)
    assert field.step_id == "RecoveryCode"
    return field


async def test_issued_once_stored_hashed_and_audited_with_its_reason(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env, phone = await lost_phone(runtime, clock)
    with pytest.raises(ValidationFailed):
        await issue_bypass_code(runtime, ACTOR, env, phone.user_id, "  ")
    issued = await issue_bypass_code(runtime, ACTOR, env, phone.user_id, "lost phone, #4711")
    assert normalize_recovery_code(issued.code)
    assert issued.expires_at == clock.now() + runtime.settings.bypass_ttl_s
    async with runtime.db.transaction() as tx:
        rows = (await tx.execute(select(bypass_codes))).mappings().all()
    assert [row["code_hash"] for row in rows] == [
        keyed_digest(runtime.keyring.pepper, "bypass", normalize_recovery_code(issued.code))
    ]
    assert issued.code not in str([dict(row) for row in rows])
    events = await list_audit(runtime, env, user_id=phone.user_id, limit=10)
    issue = [e for e in events if e.action == "totp.bypass_issue"]
    assert [e.details["reason"] for e in issue if e.details] == ["lost phone, #4711"]

    # A user without an authenticator has nothing to bypass.
    other = await new_user(runtime, env, "bo@acme.test")
    with pytest.raises(TotpNotEnrolled):
        await issue_bypass_code(runtime, ACTOR, env, other, "why not")


async def test_accepted_once_until_it_expires_and_a_new_one_voids_the_old(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env, phone = await lost_phone(runtime, clock)
    ttl = runtime.settings.bypass_ttl_s
    old = await issue_bypass_code(runtime, ACTOR, env, phone.user_id, "first")
    new = await issue_bypass_code(runtime, ACTOR, env, phone.user_id, "second")
    assert not await use_bypass_code(runtime, ACTOR, env, phone.user_id, old.code)
    assert not await use_bypass_code(runtime, ACTOR, env, phone.user_id, phone.recovery_codes[0])
    assert await enabled(runtime, env, phone)

    clock.advance(ttl)  # valid for the TTL, not a second more
    assert not await use_bypass_code(runtime, ACTOR, env, phone.user_id, new.code)
    assert await enabled(runtime, env, phone)

    fresh = await issue_bypass_code(runtime, ACTOR, env, phone.user_id, "third")
    clock.advance(ttl - 1)
    assert await use_bypass_code(runtime, ACTOR, env, phone.user_id, fresh.code.upper())
    assert not await enabled(runtime, env, phone)  # the lost authenticator is gone
    assert not await use_bypass_code(runtime, ACTOR, env, phone.user_id, fresh.code)


async def test_a_login_with_it_leads_into_enrollment_and_proves_no_second_factor(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env, phone = await lost_phone(runtime, clock)
    issued = await issue_bypass_code(runtime, ACTOR, env, phone.user_id, "lost phone")
    # Even a login that asks a fresh second factor (a step-up) goes on into enrollment.
    field = await to_recovery_code(runtime, step_up=True)
    registration = await runner.submit_answer(runtime, ACTOR, field.session, {"code": issued.code})
    assert isinstance(registration, StepAnswer), registration
    assert registration.step_id == "TotpRegistration"
    assert not await enabled(runtime, env, phone)

    key = parse_key_uri(registration.payload["uri"])
    confirm = await runner.submit_answer(runtime, ACTOR, registration.session, {})
    assert isinstance(confirm, StepAnswer)
    assert confirm.step_id == "TotpAuthentication"
    clock.advance(30)
    code = code_for_step(key.secret, key.params, time_step(clock.now(), key.params.period))
    codes = await runner.submit_answer(runtime, ACTOR, confirm.session, {"code": code})
    assert isinstance(codes, StepAnswer)
    assert codes.step_id == "RecoveryCodes"
    done = await runner.submit_answer(runtime, ACTOR, codes.session, {"confirmed": True})
    assert isinstance(done, Success), done
    assert done.session.amr == ("pwd", "bypass", "otp")
    assert b32encode(key.secret) != b32encode(phone.secret)
    # The bypass alone is no second factor: nothing that weakens one lets it through.
    with pytest.raises(ReauthenticationRequired):
        await require_fresh_factor(
            runtime,
            ACTOR,
            env,
            phone.user_id,
            client_id=None,
            amr=["pwd", "bypass"],
            auth_time=clock.now(),
        )

    # Spent: the next login's recovery-code field refuses it.
    field = await to_recovery_code(runtime)
    again = await runner.submit_answer(runtime, ACTOR, field.session, {"code": issued.code})
    assert isinstance(again, StepAnswer)
    assert again.step_id == "RecoveryCode"
    assert again.error is not None
    assert again.error.code == "recovery_code_invalid"
