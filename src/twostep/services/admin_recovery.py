"""An admin's help for a user who lost their phone (issue 12.4): a reset that always carries
the operator's reason, kept in the audit trail; or, instead, a one-time bypass code.

A bypass code has the form of a recovery code and is typed where one is (the sign-in's "Use
a recovery code"); it is stored as a keyed hash, valid ``TWOSTEP_BYPASS_TTL_S``, spent once.
Spending it removes the user's authenticators, so the sign-in goes on into enrollment; its
``amr`` is ``bypass``, which proves no second factor (no fresh factor, no mfa step-up)."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.crypto import keyed_digest
from twostep.errors import TotpNotEnrolled, ValidationFailed
from twostep.otp import new_recovery_code, normalize_recovery_code
from twostep.services import enrollment
from twostep.services.accounts import require_user
from twostep.services.audit import audit
from twostep.services.events import emit
from twostep.services.revocation import end_all_sessions
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.authenticators import active_authenticators
from twostep.storage.repositories.bypass_codes import (
    NewBypassCode,
    remove_all_authenticators,
    replace_bypass_code,
    spend_bypass_code,
)
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = [
    "BYPASS_METHOD",
    "MAX_REASON",
    "REASON_REQUIRED",
    "BypassCode",
    "admin_reset",
    "clean_reason",
    "issue_bypass_code",
    "use_bypass_code",
]

# The amr of a sign-in that spent a bypass code: never a second factor (spec 3b.2).
BYPASS_METHOD = "bypass"

MAX_REASON = 500
REASON_REQUIRED = "Give a reason: it is kept in the audit trail."
_REASON_ERROR = {"loc": ["reason"], "msg": "a reason is required", "type": "missing"}


def clean_reason(raw: str | None) -> str:
    """The operator's reason without surrounding blanks; none (or only blanks) is refused."""
    reason = (raw or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(REASON_REQUIRED, errors=[_REASON_ERROR])
    return reason


async def admin_reset(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    reason: str | None,
    *,
    client_id: str | None = None,
) -> None:
    """Remove the user's authenticator and recovery codes and end their sessions (spec 3.8,
    3b.8), audited as ``totp.reset`` with the reason."""
    details = {"reason": clean_reason(reason)}
    await enrollment.reset(rt, actor, env, user_id, client_id=client_id, details=details)


@dataclass(frozen=True, slots=True)
class BypassCode:
    """A bypass code as issued: shown once, never stored in the clear."""

    code: str
    expires_at: float


def _digest(rt: Runtime, canonical: str) -> str:
    return keyed_digest(rt.keyring.pepper, "bypass", canonical)


async def issue_bypass_code(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str, reason: str | None
) -> BypassCode:
    """A one-time code the user's next sign-in accepts in place of a code, for
    ``TWOSTEP_BYPASS_TTL_S``; it replaces one issued before. The user must have an
    authenticator (else there is nothing to bypass: ``TotpNotEnrolled``)."""
    why = clean_reason(reason)
    code = new_recovery_code()
    now = rt.clock.now()
    issued = BypassCode(code, now + rt.settings.bypass_ttl_s)
    async with rt.db.transaction() as tx:
        user = await require_user(tx, env, user_id)
        if not await active_authenticators(tx, user.id):
            raise TotpNotEnrolled()
        digest = _digest(rt, normalize_recovery_code(code))
        row = NewBypassCode(user.id, digest, why, actor.name, now, issued.expires_at)
        await replace_bypass_code(tx, row)
        details = {"reason": why, "expires_at": issued.expires_at}
        await audit(
            tx,
            rt,
            actor,
            "totp.bypass_issue",
            "ok",
            environment_id=env.id,
            user_id=user.id,
            details=details,
        )
    return issued


async def use_bypass_code(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str, code: str
) -> bool:
    """Spend the user's bypass code if ``code`` is it (unexpired, unused): their
    authenticators and recovery codes go, their sessions end, and the sign-in continues into
    enrollment. False (nothing changed) for any other code."""
    canonical = normalize_recovery_code(code)
    if not canonical:
        return False
    async with rt.db.transaction() as tx:
        if not await spend_bypass_code(tx, user_id, _digest(rt, canonical), rt.clock.now()):
            return False
        removed = await remove_all_authenticators(tx, user_id)
        await audit(tx, rt, actor, "totp.bypass_use", "ok", environment_id=env.id, user_id=user_id)
        for authenticator_id in removed:
            data = {"user_id": user_id, "authenticator_id": authenticator_id, "bypass": True}
            await emit(tx, rt, env.id, "totp.reset", data)
        await end_all_sessions(
            tx, rt, actor, environment_id=env.id, user_id=user_id, reason="totp_reset"
        )
    return True
