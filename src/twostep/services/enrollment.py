"""Registering an authenticator, confirming it with its first code, and resetting it (spec 3.7-3.8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twostep.errors import SecondFactorRequired, TotpAlreadyEnrolled, TotpNotEnrolled
from twostep.otp import Algorithm, KeyUri, TotpParams, b32encode, build_key_uri, new_secret
from twostep.policy import AuthConfig, TotpOverride, effective_totp_params
from twostep.services.accounts import require_application, require_user
from twostep.services.audit import audit
from twostep.services.devices import forget_all_devices
from twostep.services.events import EventType, emit
from twostep.services.metrics import CODE_CHECKS
from twostep.services.organizations import fresh_environment
from twostep.services.qr import qr_svg
from twostep.services.recovery import issue_recovery_codes
from twostep.services.revocation import end_all_sessions
from twostep.services.runtime import Actor, Runtime, ensure_totp_enabled
from twostep.services.throttle import guard_address
from twostep.services.verification import (
    check_code,
    check_ip_failure,
    emit_lockout,
    load_context,
)
from twostep.storage import Tx
from twostep.storage.repositories import authenticators as repo
from twostep.storage.repositories.applications import ApplicationRecord
from twostep.storage.repositories.authenticators import AuthenticatorStatus
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord
from twostep.storage.tables import new_id

__all__ = ["Registration", "account_label", "authenticator_row", "confirm", "register", "reset"]


@dataclass(frozen=True, slots=True)
class Registration:
    id: str
    status: AuthenticatorStatus
    secret: str
    uri: str
    qr_svg: str
    recovery_codes: list[str] | None


def account_label(user: UserRecord) -> str:
    """Spec 3.3: email, else username, else phone (else the id)."""
    return user.email or user.username or user.phone or user.id


def _params(config: AuthConfig, app: ApplicationRecord) -> TotpParams:
    override = TotpOverride.model_validate(app.totp_override) if app.totp_override else None
    algorithm, digits, period = effective_totp_params(config, override)
    return TotpParams(Algorithm(algorithm), digits, period)


def authenticator_row(
    rt: Runtime,
    authenticator_id: str,
    user_id: str,
    application_id: str,
    secret: bytes,
    params: TotpParams,
    status: AuthenticatorStatus,
    now: float,
) -> dict[str, Any]:
    """A new authenticator's columns: the secret sealed, bound to the authenticator's id."""
    key_id, sealed = rt.box.encrypt(secret, aad=authenticator_id.encode())
    return {
        "id": authenticator_id,
        "user_id": user_id,
        "application_id": application_id,
        "status": status,
        "key_id": key_id,
        "secret_ciphertext": sealed,
        "algorithm": params.algorithm.value,
        "digits": params.digits,
        "period": params.period,
        "last_step": -1,
        "failures": 0,
        "locked_until": 0.0,
        "created_at": now,
        "activated_at": now if status == "active" else None,
    }


async def register(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    *,
    client_id: str | None = None,
    label: str | None = None,
) -> Registration:
    """Issue a new secret; replaces a pending authenticator, refuses over an active one."""
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        config = (await fresh_environment(tx, env)).config
        ensure_totp_enabled(rt.settings, config)
        user = await require_user(tx, env, user_id)
        app = await require_application(tx, env, client_id)
        existing = await repo.get_authenticator(tx, user.id, app.id)
        if existing is not None:
            if existing.status == "active":
                raise TotpAlreadyEnrolled()
            await repo.delete_authenticator(tx, existing.id, status="pending")
        params = _params(config, app)
        secret = new_secret()
        authenticator_id = new_id()
        status: AuthenticatorStatus = "pending" if config.totp.confirm_enrollment else "active"
        row = authenticator_row(rt, authenticator_id, user.id, app.id, secret, params, status, now)
        if not await repo.insert_authenticator(tx, row):
            raise TotpAlreadyEnrolled()
        codes = None
        if status == "active":
            codes = await issue_recovery_codes(tx, rt, authenticator_id, config)
        await audit(tx, rt, actor, "totp.register", status, environment_id=env.id, user_id=user.id)
    # ':' separates issuer and account in the key URI label, so a name cannot carry one.
    issuer = config.totp.issuer or env.organization_name.replace(":", "").strip() or None
    uri = build_key_uri(KeyUri(secret, label or account_label(user), issuer, params))
    return Registration(authenticator_id, status, b32encode(secret), uri, qr_svg(uri), codes)


async def confirm(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    code: str,
    *,
    client_id: str | None = None,
) -> list[str]:
    """Activate a pending authenticator with its first valid code; returns the recovery codes."""
    codes: list[str] = []
    await guard_address(rt, actor, env, "totp.confirm", user_id=user_id)
    async with rt.db.transaction() as tx:
        context, config = await load_context(tx, rt, env, user_id, client_id)
        authenticator = context.authenticator
        if authenticator is None:
            raise TotpNotEnrolled()
        if authenticator.status == "active":
            raise TotpAlreadyEnrolled()

        async def claim(tx: Tx, step: int) -> bool:
            return await repo.activate(tx, authenticator.id, step=step, now=rt.clock.now())

        checked = await check_code(tx, rt, authenticator, config, code, claim)
        await emit_lockout(tx, rt, env, authenticator, checked)
        verdict = await check_ip_failure(tx, rt, actor, env, checked)
        decision = verdict.decision()
        if decision.ok:
            codes = await issue_recovery_codes(tx, rt, authenticator.id, config)
            data = {"user_id": user_id, "authenticator_id": authenticator.id}
            await emit(tx, rt, env.id, "totp.enrolled", {**data, "application": client_id})
        await audit(
            tx, rt, actor, "totp.confirm", decision.outcome, environment_id=env.id, user_id=user_id
        )
    CODE_CHECKS.labels("confirm", decision.outcome).inc()
    decision.raise_refusal()
    return codes


async def reset(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    *,
    client_id: str | None = None,
    end_sessions: bool = True,
    sign_in: bool = False,
    details: dict[str, Any] | None = None,
    keep_last: bool = False,
) -> None:
    """Remove the user's authenticator and its recovery codes (spec 3.8); ``details`` (an
    operator's reason) go into the audit event.

    An admin's reset ends every session of the user (spec 3b.8); the user's own disable
    journey passes ``end_sessions=False``, as it goes on to issue the session it signs in,
    and ``sign_in``: the authenticator removed is the one its sign-in asked (spec 3b.1).
    With ``keep_last`` (the user's own act under ``totp.enforce``), the user's last active
    authenticator is refused with ``SecondFactorRequired`` (issue 12.3).

    Over 50 lines on purpose: the floor check, the removal, its audit, events and the end of
    sessions share one transaction, and reading them in one place shows that they do.
    """
    async with rt.db.transaction() as tx:
        user = await require_user(tx, env, user_id)
        if sign_in:
            context = await repo.load_verify_context(tx, env.id, user.id, client_id, sign_in=True)
            existing = None if context is None else context.authenticator
        else:
            app = await require_application(tx, env, client_id)
            existing = await repo.get_authenticator(tx, user.id, app.id)
        if keep_last and len(await repo.active_authenticators(tx, user.id)) <= 1:
            raise SecondFactorRequired()
        if existing is None or not await repo.delete_authenticator(tx, existing.id):
            raise TotpNotEnrolled()
        await audit(
            tx,
            rt,
            actor,
            "totp.reset",
            "ok",
            environment_id=env.id,
            user_id=user.id,
            details=details,
        )
        # The user's own disable (its sign-in proved the factor) or anyone else's reset.
        kind: EventType = "totp.disabled" if sign_in else "totp.reset"
        await emit(tx, rt, env.id, kind, {"user_id": user.id, "authenticator_id": existing.id})
        # A browser trusted to skip the code trusted the factor that is now gone (issue 12.2).
        await forget_all_devices(tx, rt, user.id)
        if end_sessions:
            await end_all_sessions(
                tx, rt, actor, environment_id=env.id, user_id=user.id, reason="totp_reset"
            )
