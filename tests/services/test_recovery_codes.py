"""Recovery codes (spec 3.9): issued on activation, single use, forgiving input, once per 24 h,
regenerated as a whole, and stored only as keyed hashes; secrets are stored only sealed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.services.support import ACTOR, Phone, enroll, enrolled_user, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.crypto import hash_recovery_code
from twostep.errors import (
    RecoveryCodeInvalid,
    RecoveryCodeRateLimited,
    RecoveryCodesExhausted,
)
from twostep.otp import b32encode, normalize_recovery_code
from twostep.services import enrollment, recovery
from twostep.services.accounts import get_user
from twostep.services.organizations import patch_auth_config
from twostep.services.runtime import Runtime
from twostep.services.verification import verify_code
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.tables import authenticators, recovery_codes

DAY = 24 * 3600


async def use(rt: Runtime, env: EnvironmentRecord, phone: Phone, code: str) -> int:
    return await recovery.use_recovery_code(rt, ACTOR, env, phone.user_id, code)


async def remaining(rt: Runtime, env: EnvironmentRecord, phone: Phone) -> int:
    return (await get_user(rt, env, phone.user_id)).two_factor.recovery_codes_remaining


async def test_issued_on_confirmation_as_configured(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    for n, count in enumerate([None, 1, 12]):
        if count is not None:
            await patch_auth_config(runtime, ACTOR, env, {"recovery_codes": {"count": count}})
        phone = await enrolled_user(runtime, clock, env, f"u{n}@acme.test")
        assert len(phone.recovery_codes) == (count or 5)
        assert len(set(phone.recovery_codes)) == len(phone.recovery_codes)
        assert await remaining(runtime, env, phone) == (count or 5)


async def test_single_use_in_any_order_one_per_day(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    codes = phone.recovery_codes
    assert await use(runtime, env, phone, codes[3]) == 4

    # A second code within 24 h is refused, and not spent by the refusal.
    clock.advance(DAY - 1)
    with pytest.raises(RecoveryCodeRateLimited) as limited:
        await use(runtime, env, phone, codes[1])
    assert limited.value.retry_after is not None
    assert limited.value.retry_after > 0
    assert await remaining(runtime, env, phone) == 4
    clock.advance(1)
    assert await use(runtime, env, phone, codes[1]) == 3

    # A spent code stays spent, a day later too.
    clock.advance(DAY)
    with pytest.raises(RecoveryCodeInvalid):
        await use(runtime, env, phone, codes[3])
    for left, code in zip([2, 1, 0], [codes[4], codes[0], codes[2]], strict=True):
        assert await use(runtime, env, phone, code) == left
        clock.advance(DAY)
    with pytest.raises(RecoveryCodesExhausted):
        await use(runtime, env, phone, codes[0])
    assert await remaining(runtime, env, phone) == 0


# How a user may type a code shown as "abcd-efgh-jkmn-pqrs".
TYPED: list[Callable[[str], str]] = [
    lambda c: c,
    lambda c: c.upper(),
    lambda c: c.replace("-", ""),
    lambda c: c.replace("-", " "),
    lambda c: f"  {c.upper().replace('-', ' - ')}  ",
]
TYPOS = ["", "not-a-code", "0000-0000-0000-0000", "abcd-efgh-jkmn-pqr"]


async def test_input_tolerates_case_spaces_and_dashes(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    await patch_auth_config(runtime, ACTOR, env, {"recovery_codes": {"once_per_hours": 0}})
    phone = await enrolled_user(runtime, clock, env)
    for left, (typed, code) in enumerate(zip(TYPED, phone.recovery_codes, strict=True)):
        assert await use(runtime, env, phone, typed(code)) == 4 - left


async def test_wrong_code_is_invalid_and_spends_nothing(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    for typo in TYPOS:
        with pytest.raises(RecoveryCodeInvalid):
            await use(runtime, env, phone, typo)
    # Wrong recovery codes do not use up the day's allowance either.
    assert await use(runtime, env, phone, phone.recovery_codes[0]) == 4


async def test_regenerate_invalidates_the_old_set(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    await patch_auth_config(runtime, ACTOR, env, {"recovery_codes": {"once_per_hours": 0}})
    assert await use(runtime, env, phone, phone.recovery_codes[0]) == 4
    fresh = await recovery.regenerate(runtime, ACTOR, env, phone.user_id)
    assert len(fresh) == 5
    assert not set(fresh) & set(phone.recovery_codes)
    assert await remaining(runtime, env, phone) == 5
    for old in phone.recovery_codes[1:]:
        with pytest.raises(RecoveryCodeInvalid):
            await use(runtime, env, phone, old)
    for left, code in enumerate(reversed(fresh)):
        assert await use(runtime, env, phone, code) == 4 - left
    with pytest.raises(RecoveryCodesExhausted):
        await use(runtime, env, phone, fresh[0])


async def test_recovery_code_unlocks_verification(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    await use(runtime, env, phone, phone.recovery_codes[0])
    # Codes keep working after a recovery code was used.
    await verify_code(runtime, ACTOR, env, phone.user_id, phone.code(clock, +1))


async def test_stored_only_as_keyed_hashes_and_sealed_secrets(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phones = [await enrolled_user(runtime, clock, env, f"u{i}@acme.test") for i in range(3)]
    # A pending authenticator is sealed too.
    pending = await new_user(runtime, env, "pending@acme.test")
    registration = await enrollment.register(runtime, ACTOR, env, pending)

    async with runtime.db.transaction() as tx:
        code_rows = (await tx.execute(select(recovery_codes))).mappings().all()
        secret_rows = (await tx.execute(select(authenticators))).mappings().all()

    stored = repr([dict(r) for r in code_rows]).lower()
    expected_hashes = set()
    for phone in phones:
        for code in phone.recovery_codes:
            canonical = normalize_recovery_code(code)
            assert code.lower() not in stored
            assert canonical not in stored
            expected_hashes.add(hash_recovery_code(runtime.keyring.pepper, canonical))
    assert {r["code_hash"] for r in code_rows} == expected_hashes

    assert len(secret_rows) == 4
    dumped = b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
        for row in secret_rows
        for v in row.values()
    )
    secrets_ = [p.secret for p in phones]
    for secret in secrets_:
        assert secret not in dumped
        assert b32encode(secret).encode() not in dumped
        assert b32encode(secret).lower().encode() not in dumped
    assert registration.secret.encode() not in dumped
    assert {r["key_id"] for r in secret_rows} == {runtime.box.primary_key_id}


async def test_exhausted_user_can_enroll_again(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    await patch_auth_config(
        runtime, ACTOR, env, {"recovery_codes": {"count": 1, "once_per_hours": 0}}
    )
    phone = await enrolled_user(runtime, clock, env)
    assert await use(runtime, env, phone, phone.recovery_codes[0]) == 0
    with pytest.raises(RecoveryCodesExhausted):
        await use(runtime, env, phone, phone.recovery_codes[0])
    await enrollment.reset(runtime, ACTOR, env, phone.user_id)
    again = await enroll(runtime, clock, env, phone.user_id)
    assert await use(runtime, env, again, again.recovery_codes[0]) == 0


async def test_rate_limit_says_when_the_next_use_is_allowed(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    await use(runtime, env, phone, phone.recovery_codes[0])
    clock.advance(DAY - 60)
    with pytest.raises(RecoveryCodeRateLimited) as limited:
        await use(runtime, env, phone, phone.recovery_codes[1])
    assert limited.value.retry_after == 60
