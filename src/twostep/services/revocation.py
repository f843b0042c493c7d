"""Ending everything a user holds when trust in them changes (spec 3b.8).

Disabling a user, changing their password, an admin reset of their second factor and closing
their lock all call ``end_all_sessions`` inside their own transaction, so the change and the
end of the sessions commit together: no request sees one without the other.
"""

from __future__ import annotations

from typing import Literal

from twostep.services.audit import audit
from twostep.services.devices import forget_all_devices
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories.oauth import revoke_user_families
from twostep.storage.repositories.sessions import revoke_user_sessions

__all__ = ["Reason", "end_all_sessions"]

# Stored as the token families' revoked_reason (16 characters at most).
Reason = Literal["user_disabled", "password_change", "totp_reset", "lock_closed"]


async def end_all_sessions(
    tx: Tx, rt: Runtime, actor: Actor, *, environment_id: str, user_id: str, reason: Reason
) -> None:
    """End the user's sessions, refresh tokens, access tokens and token families, and forget
    their remembered devices, in ``tx``."""
    sessions = await revoke_user_sessions(tx, user_id)
    tokens = await revoke_user_families(tx, user_id, now=rt.clock.now(), reason=reason)
    devices = await forget_all_devices(tx, rt, user_id)
    await audit(
        tx,
        rt,
        actor,
        "session.end_all",
        "ok",
        environment_id=environment_id,
        user_id=user_id,
        details={"reason": reason, "sessions": sessions, "tokens": tokens, "devices": devices},
    )
