"""Which second factor a sign-in asks of a user (spec 3b.1): authenticators belong to one
application each, but the protection they give is account-wide in their environment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from twostep.errors import NotFound
from twostep.services.accounts import require_user
from twostep.services.runtime import Runtime, totp_enabled
from twostep.storage.repositories import authenticators as repo
from twostep.storage.repositories.authenticators import ActiveAuthenticator, AuthenticatorRecord
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = [
    "DEVICE_METHOD",
    "SECOND_FACTORS",
    "list_authenticators",
    "protects_account",
    "proves_second_factor",
    "second_factor_required",
    "sign_in_authenticator",
]

# The RFC 8176 methods that prove a second factor.
SECOND_FACTORS: Final = frozenset({"otp", "recovery"})
# A browser the user trusted after a code (issue 12.2): not an RFC 8176 value.
DEVICE_METHOD: Final = "device"


def proves_second_factor(amr: Iterable[str]) -> bool:
    """Whether the methods a sign-in used (``amr``) include a second factor."""
    return not SECOND_FACTORS.isdisjoint(amr)


def protects_account(amr: Iterable[str]) -> bool:
    """Whether a sign-in may end for a user with an authenticator (spec 3b.1): a second factor,
    or a browser they trusted after one (a remembered device, amr ``device``). A device is
    never a fresh factor, an mfa ``acr`` or a step-up: those ask ``proves_second_factor``."""
    return proves_second_factor(amr) or DEVICE_METHOD in amr


async def _context(
    rt: Runtime, env: EnvironmentRecord, user_id: str, client_id: str | None
) -> repo.VerifyContext:
    async with rt.db.transaction() as tx:
        context = await repo.load_verify_context(tx, env.id, user_id, client_id, sign_in=True)
    if context is None:
        raise NotFound("Unknown user or application.")
    return context


async def sign_in_authenticator(
    rt: Runtime, env: EnvironmentRecord, user_id: str, client_id: str | None
) -> AuthenticatorRecord | None:
    """The authenticator a sign-in to the application (the default one if None) asks: its own
    active one, else the default application's, else the user's oldest active one."""
    return (await _context(rt, env, user_id, client_id)).authenticator


async def second_factor_required(
    rt: Runtime, env: EnvironmentRecord, user_id: str, client_id: str | None
) -> bool:
    """Whether signing in to the application needs a second factor: TOTP is on and the user
    has an active authenticator in any application of the environment."""
    context = await _context(rt, env, user_id, client_id)
    config = context.config
    return context.authenticator is not None and totp_enabled(rt.settings, config)


async def list_authenticators(
    rt: Runtime, env: EnvironmentRecord, user_id: str
) -> list[ActiveAuthenticator]:
    """The user's active authenticators by application, oldest first (the settings page)."""
    async with rt.db.transaction() as tx:
        await require_user(tx, env, user_id)
        return await repo.active_authenticators(tx, user_id)
