"""Replacing an authenticator (a new phone) without ever being without one (issue 12.3): the
new key is confirmed with its first code before the old key goes, in one transaction; new
recovery codes replace the old. Under ``totp.enforce`` this is how a user re-enrolls."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.errors import InvalidCode, LockedOut
from twostep.otp import KeyUri, TotpParams, build_key_uri, find_step, new_secret
from twostep.services.accounts import require_user
from twostep.services.audit import audit
from twostep.services.decision import accepted, refused
from twostep.services.devices import forget_all_devices
from twostep.services.enrollment import account_label
from twostep.services.events import emit
from twostep.services.recovery import issue_recovery_codes
from twostep.services.runtime import Actor, Runtime, ensure_totp_enabled
from twostep.services.throttle import guard_address, note_ip_failure
from twostep.services.verification import load_active, params_of
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.replacement import NewKey, replace_key

__all__ = ["Replacement", "finish_replacement", "start_replacement"]


@dataclass(frozen=True, slots=True)
class Replacement:
    """A new key for the user's authenticator, not stored until its first code confirms it."""

    secret: bytes
    params: TotpParams
    uri: str


async def start_replacement(
    rt: Runtime, env: EnvironmentRecord, user_id: str, client_id: str | None
) -> Replacement:
    """A new key, with the parameters of the authenticator the user's sign-in asks."""
    async with rt.db.transaction() as tx:
        user = await require_user(tx, env, user_id)
        authenticator, config = await load_active(tx, rt, env, user.id, client_id, sign_in=True)
    ensure_totp_enabled(rt.settings, config)
    params = params_of(authenticator)
    secret = new_secret()
    issuer = config.totp.issuer or env.organization_name.replace(":", "").strip() or None
    uri = build_key_uri(KeyUri(secret, account_label(user), issuer, params))
    return Replacement(secret, params, uri)


async def finish_replacement(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    client_id: str | None,
    replacement: Replacement,
    code: str,
) -> list[str]:
    """Swap in the new key if ``code`` is its current code; returns the new recovery codes.
    A wrong code counts against the end user's address (``InvalidCode``, ``LockedOut``)."""
    await guard_address(rt, actor, env, "totp.replace", user_id=user_id)
    codes: list[str] = []
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        authenticator, config = await load_active(tx, rt, env, user_id, client_id, sign_in=True)
        window = config.totp
        match = find_step(
            replacement.secret,
            replacement.params,
            code,
            now=now,
            valid_past_tokens=window.valid_past_tokens,
            valid_future_tokens=window.valid_future_tokens,
        )
        if match is None:
            wait = await note_ip_failure(tx, rt, actor, env)
            decision = (
                refused("invalid", InvalidCode())
                if wait is None
                else refused("throttled", LockedOut(retry_after=wait, seconds=wait))
            )
        else:
            key_id, sealed = rt.box.encrypt(replacement.secret, aad=authenticator.id.encode())
            p = replacement.params
            key = NewKey(key_id, sealed, p.algorithm.value, p.digits, p.period)
            await replace_key(tx, authenticator.id, key, step=match.step, now=now)
            codes = await issue_recovery_codes(tx, rt, authenticator.id, config)
            # Browsers trusted after the old phone's codes are trusted no more (issue 12.2).
            await forget_all_devices(tx, rt, user_id)
            data = {"user_id": user_id, "authenticator_id": authenticator.id, "replaced": True}
            await emit(tx, rt, env.id, "totp.enrolled", data)
            decision = accepted()
        await audit(
            tx, rt, actor, "totp.replace", decision.outcome, environment_id=env.id, user_id=user_id
        )
    decision.raise_refusal()
    return codes
