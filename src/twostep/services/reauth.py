"""A fresh second factor before anything that weakens it (spec 3b.2): disabling, enrolling
over an authenticator, new recovery codes, pairing, opening or unpairing the lock."""

from __future__ import annotations

from collections.abc import Sequence

from twostep.errors import ReauthenticationRequired
from twostep.otp import normalize_recovery_code
from twostep.services.factors import proves_second_factor, second_factor_required
from twostep.services.recovery import use_recovery_code
from twostep.services.runtime import Actor, Runtime
from twostep.services.verification import verify_code
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = ["factor_is_fresh", "require_fresh_factor"]


def _recent(rt: Runtime, auth_time: float | None) -> bool:
    return auth_time is not None and rt.clock.now() - auth_time <= rt.settings.reauth_s


def factor_is_fresh(rt: Runtime, amr: Sequence[str], auth_time: float | None) -> bool:
    """Whether a sign-in proved a second factor at most ``TWOSTEP_REAUTH_S`` seconds ago."""
    return proves_second_factor(amr) and _recent(rt, auth_time)


async def require_fresh_factor(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    *,
    client_id: str | None,
    amr: Sequence[str],
    auth_time: float | None,
    code: str | None = None,
) -> None:
    """Let a weakening action through on a fresh second factor, or on a code or recovery code
    given with it (checked as at sign-in: lockout, replay); else ``ReauthenticationRequired``.

    A user without a second factor has none to weaken: a sign-in at most ``TWOSTEP_REAUTH_S``
    seconds old stands in for it (a stale session signs in again).
    """
    if not await second_factor_required(rt, env, user_id, client_id):
        if _recent(rt, auth_time):
            return
        raise ReauthenticationRequired()
    if factor_is_fresh(rt, amr, auth_time):
        return
    if code is None or not code.strip():
        raise ReauthenticationRequired()
    if normalize_recovery_code(code):
        await use_recovery_code(rt, actor, env, user_id, code, client_id=client_id, sign_in=True)
    else:
        await verify_code(rt, actor, env, user_id, code, client_id=client_id, sign_in=True)
