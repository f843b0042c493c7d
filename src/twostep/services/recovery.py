"""Recovery codes: issued on activation, shown once, single use, one use per N hours (spec 3.9)."""

from __future__ import annotations

import math

from twostep.crypto import hash_recovery_code
from twostep.errors import (
    LockedOut,
    RecoveryCodeInvalid,
    RecoveryCodeRateLimited,
    RecoveryCodesExhausted,
)
from twostep.otp import new_recovery_codes, normalize_recovery_code
from twostep.policy import AuthConfig
from twostep.services.audit import audit
from twostep.services.decision import Decision, accepted, refused
from twostep.services.events import emit
from twostep.services.metrics import RECOVERY_USES
from twostep.services.runtime import Actor, Runtime
from twostep.services.throttle import RATE_LIMITED, guard_address, note_ip_failure
from twostep.services.verification import load_active
from twostep.storage import Tx
from twostep.storage.repositories import authenticators, recovery_codes
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import claim_recovery_window, get_user

__all__ = ["issue_recovery_codes", "regenerate", "use_recovery_code"]


async def issue_recovery_codes(
    tx: Tx, rt: Runtime, authenticator_id: str, config: AuthConfig
) -> list[str]:
    """A fresh set replacing the old one; only the keyed hashes are stored."""
    codes = new_recovery_codes(config.recovery_codes.count)
    hashes = [hash_recovery_code(rt.keyring.pepper, normalize_recovery_code(c)) for c in codes]
    await recovery_codes.replace_codes(tx, authenticator_id, hashes, rt.clock.now())
    return codes


async def regenerate(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    *,
    client_id: str | None = None,
    sign_in: bool = False,
) -> list[str]:
    """A new set for the user's authenticator (with ``sign_in``, the one a sign-in asks)."""
    async with rt.db.transaction() as tx:
        authenticator, config = await load_active(tx, rt, env, user_id, client_id, sign_in=sign_in)
        codes = await issue_recovery_codes(tx, rt, authenticator.id, config)
        await audit(
            tx, rt, actor, "recovery.regenerate", "ok", environment_id=env.id, user_id=user_id
        )
        data = {"user_id": user_id, "authenticator_id": authenticator.id, "count": len(codes)}
        await emit(tx, rt, env.id, "recovery_codes.regenerated", data)
    return codes


async def use_recovery_code(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    code: str,
    *,
    client_id: str | None = None,
    sign_in: bool = False,
) -> int:
    """Spend one recovery code; lifts a lockout. Returns how many are left. With ``sign_in``,
    a code of the authenticator a sign-in to the application asks (spec 3b.1)."""
    await guard_address(rt, actor, env, "recovery.use", user_id=user_id)
    async with rt.db.transaction() as tx:
        authenticator, config = await load_active(tx, rt, env, user_id, client_id, sign_in=sign_in)
        left = await recovery_codes.count_unused(tx, authenticator.id)
        if left == 0:
            decision = refused("exhausted", RecoveryCodesExhausted())
        else:
            decision = await _spend(tx, rt, actor, env, user_id, authenticator.id, config, code)
        await audit(
            tx, rt, actor, "recovery.use", decision.outcome, environment_id=env.id, user_id=user_id
        )
        if decision.ok:
            data = {"user_id": user_id, "authenticator_id": authenticator.id, "left": left - 1}
            await emit(tx, rt, env.id, "recovery_code.used", data)
    RECOVERY_USES.labels(decision.outcome).inc()
    decision.raise_refusal()
    return left - 1


async def _spend(
    tx: Tx,
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    authenticator_id: str,
    config: AuthConfig,
    code: str,
) -> Decision:
    """Consume ``code`` if it is one of the unused codes and the user's window allows a use;
    a wrong code counts against the end user's address."""
    now = rt.clock.now()
    canonical = normalize_recovery_code(code)
    code_hash = hash_recovery_code(rt.keyring.pepper, canonical) if canonical else ""
    if not canonical or not await recovery_codes.consume_code(tx, authenticator_id, code_hash, now):
        wait = await note_ip_failure(tx, rt, actor, env)
        if wait is None:
            return refused("invalid", RecoveryCodeInvalid())
        return refused("throttled", LockedOut(retry_after=wait, seconds=wait))
    hours = config.recovery_codes.once_per_hours
    window_s = hours * 3600
    if await claim_recovery_window(tx, user_id, now=now, window_s=window_s):
        await authenticators.clear_failures(tx, authenticator_id)
        return accepted()
    # Refused, and recorded: the code is given back so that it stays usable later.
    await recovery_codes.release_code(tx, authenticator_id, code_hash)
    user = await get_user(tx, env.id, user_id)
    last_use = user.recovery_used_at if user and user.recovery_used_at else now
    wait = max(1, math.ceil(last_use + window_s - now))
    return refused(RATE_LIMITED, RecoveryCodeRateLimited(retry_after=wait, hours=hours))
