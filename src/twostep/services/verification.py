"""Checking a TOTP code: lockout first, then the window, then the atomic replay claim (spec 3.4-3.6)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from twostep.errors import (
    AccountLocked,
    CodeReused,
    InvalidCode,
    LockedOut,
    NotFound,
    TotpNotEnrolled,
    TwostepError,
)
from twostep.otp import Algorithm, TotpParams, code_for_step, find_step, time_step
from twostep.otp.backoff import MAX_DELAY, SUSPEND_AFTER, delay_table, is_suspended
from twostep.otp.drift import Drift, bounded_centre, learn_drift
from twostep.policy import AuthConfig
from twostep.services.audit import audit
from twostep.services.decision import Decision
from twostep.services.events import emit
from twostep.services.metrics import CODE_CHECKS
from twostep.services.runtime import Actor, Runtime, ensure_totp_enabled
from twostep.services.throttle import guard_address, note_ip_failure
from twostep.storage import Tx, hot_path
from twostep.storage.repositories import authenticators as repo
from twostep.storage.repositories.authenticators import AuthenticatorRecord, VerifyContext
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = [
    "Claim",
    "Outcome",
    "Verdict",
    "check_code",
    "check_ip_failure",
    "current_code",
    "decide",
    "emit_lockout",
    "load_active",
    "load_context",
    "params_of",
    "secret_of",
    "verify_code",
]

Claim = Callable[[Tx, int], Awaitable[bool]]


class Outcome(Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    REUSED = "reused"
    LOCKED = "locked"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    retry_after: int = 0
    step: int | None = None
    # Set when this very check locked or suspended the authenticator: the event to emit.
    newly: Literal["totp.locked", "totp.suspended"] | None = None

    def decision(self) -> Decision:
        """The verdict as its audit outcome and, when refused, the problem raised after commit."""
        return Decision(self.outcome.value, self._refusal())

    def _refusal(self) -> TwostepError | None:
        match self.outcome:
            case Outcome.ACCEPTED:
                return None
            case Outcome.INVALID:
                return InvalidCode()
            case Outcome.REUSED:
                return CodeReused()
            case Outcome.LOCKED:
                return LockedOut(retry_after=self.retry_after, seconds=self.retry_after)
            case Outcome.SUSPENDED:
                return LockedOut(
                    "Too many wrong codes: use a recovery code or ask an administrator to reset.",
                    retry_after=self.retry_after,
                )


async def load_context(
    tx: Tx,
    rt: Runtime,
    env: EnvironmentRecord,
    user_id: str,
    client_id: str | None,
    *,
    sign_in: bool = False,
) -> tuple[VerifyContext, AuthConfig]:
    """The user's authenticator and the environment's config; TOTP must be switched on. ``sign_in``
    takes the authenticator a sign-in to the application asks (spec 3b.1), not its own."""
    context = await hot_path.load_verify_context(tx, env.id, user_id, client_id, sign_in=sign_in)
    if context is None:
        raise NotFound("Unknown user or application.")
    config = context.config
    ensure_totp_enabled(rt.settings, config)
    if context.lock_closed:
        # Spec 3.13: while the owner keeps the lock closed, no code opens the account.
        raise AccountLocked()
    return context, config


async def load_active(
    tx: Tx,
    rt: Runtime,
    env: EnvironmentRecord,
    user_id: str,
    client_id: str | None,
    *,
    sign_in: bool = False,
) -> tuple[AuthenticatorRecord, AuthConfig]:
    """The user's ACTIVE authenticator (a pending one never satisfies a check) and the config."""
    context, config = await load_context(tx, rt, env, user_id, client_id, sign_in=sign_in)
    authenticator = context.authenticator
    if authenticator is None or authenticator.status != "active":
        raise TotpNotEnrolled()
    return authenticator, config


def secret_of(rt: Runtime, authenticator: AuthenticatorRecord) -> bytes:
    return rt.box.decrypt(
        authenticator.key_id, authenticator.secret_ciphertext, aad=authenticator.id.encode()
    )


def params_of(authenticator: AuthenticatorRecord) -> TotpParams:
    return TotpParams(
        Algorithm(authenticator.algorithm), authenticator.digits, authenticator.period
    )


async def check_code(
    tx: Tx,
    rt: Runtime,
    authenticator: AuthenticatorRecord,
    config: AuthConfig,
    code: str,
    claim: Claim,
) -> Verdict:
    """Evaluate ``code``; counts failures and claims the step in ``tx``. Never raises for a bad code."""
    now = rt.clock.now()
    if is_suspended(authenticator.failures):
        return Verdict(Outcome.SUSPENDED, MAX_DELAY)
    if authenticator.locked_until > now:
        return Verdict(Outcome.LOCKED, math.ceil(authenticator.locked_until - now))
    match = find_step(
        secret_of(rt, authenticator),
        params_of(authenticator),
        code,
        now=now,
        valid_past_tokens=config.totp.valid_past_tokens,
        valid_future_tokens=config.totp.valid_future_tokens,
        replay_floor=authenticator.last_step,
        centre=authenticator.drift_steps,
    )
    if match is not None and not match.replayed:
        if await claim(tx, match.step):
            await _learn_drift(tx, authenticator, config, match.step, now)
            return Verdict(Outcome.ACCEPTED, step=match.step)
        return await _after_lost_race(tx, authenticator.id, now)
    if match is not None:
        return Verdict(Outcome.REUSED)
    failures = await decide(tx, authenticator.id, None, config, now)
    if failures is None:
        return await _after_lost_race(tx, authenticator.id, now)
    if is_suspended(failures):
        first = failures == SUSPEND_AFTER  # the failure that suspended it
        return Verdict(Outcome.SUSPENDED, MAX_DELAY, newly="totp.suspended" if first else None)
    locked = failures >= config.totp.max_failures
    return Verdict(Outcome.INVALID, newly="totp.locked" if locked else None)


async def decide(
    tx: Tx, authenticator_id: str, step: int | None, config: AuthConfig, now: float
) -> int | None:
    """Claim ``step``, or count a failure when None, in one statement on the driver; None when
    refused (locked, suspended, or the step spent meanwhile). See ``repo.decide``."""
    return await hot_path.decide(
        tx,
        authenticator_id,
        step=step,
        now=now,
        delays=delay_table(config.totp.max_failures),
        max_delay=MAX_DELAY,
        suspend_after=SUSPEND_AFTER,
    )


async def emit_lockout(
    tx: Tx, rt: Runtime, env: EnvironmentRecord, authenticator: AuthenticatorRecord, v: Verdict
) -> None:
    """The ``totp.locked`` or ``totp.suspended`` event when check ``v`` set that state."""
    if v.newly is not None:
        data = {"user_id": authenticator.user_id, "authenticator_id": authenticator.id}
        await emit(tx, rt, env.id, v.newly, data)


async def _learn_drift(
    tx: Tx, authenticator: AuthenticatorRecord, config: AuthConfig, step: int, now: float
) -> None:
    """Note how far from the server's step an accepted code was; agreeing offsets move the
    window centre (bounded, never wider: `otp.drift`)."""
    offset = step - time_step(now, authenticator.period)
    known = Drift.decoded(authenticator.drift_steps, authenticator.recent_offsets)
    learned = learn_drift(
        known,
        offset,
        valid_past_tokens=config.totp.valid_past_tokens,
        valid_future_tokens=config.totp.valid_future_tokens,
    )
    if learned != known:  # a steady phone changes nothing: no write on the hot path
        await repo.save_drift(tx, authenticator.id, steps=learned.steps, recent=learned.encoded())


async def _after_lost_race(tx: Tx, authenticator_id: str, now: float) -> Verdict:
    """A concurrent request changed the row after we read it: answer from its current state."""
    current = await repo.get_authenticator_by_id(tx, authenticator_id)
    if current is None:
        return Verdict(Outcome.INVALID)
    if is_suspended(current.failures):
        return Verdict(Outcome.SUSPENDED, MAX_DELAY)
    if current.locked_until > now:
        return Verdict(Outcome.LOCKED, math.ceil(current.locked_until - now))
    return Verdict(Outcome.REUSED)


async def check_ip_failure(
    tx: Tx, rt: Runtime, actor: Actor, env: EnvironmentRecord, verdict: Verdict
) -> Verdict:
    """Count a wrong code against the end user's address; past its limit, answer with the lock."""
    if verdict.outcome is Outcome.INVALID:
        wait = await note_ip_failure(tx, rt, actor, env)
        if wait is not None:
            return Verdict(Outcome.LOCKED, wait)
    return verdict


async def verify_code(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    code: str,
    *,
    client_id: str | None = None,
    sign_in: bool = False,
) -> None:
    """Accept a code from the user's active authenticator once, or raise its problem; with
    ``sign_in``, from the authenticator a sign-in to the application asks (spec 3b.1)."""
    await guard_address(rt, actor, env, "totp.verify", user_id=user_id)
    async with rt.db.transaction() as tx:
        authenticator, config = await load_active(tx, rt, env, user_id, client_id, sign_in=sign_in)

        async def claim(tx: Tx, step: int) -> bool:
            return await decide(tx, authenticator.id, step, config, rt.clock.now()) == 0

        checked = await check_code(tx, rt, authenticator, config, code, claim)
        await emit_lockout(tx, rt, env, authenticator, checked)
        verdict = await check_ip_failure(tx, rt, actor, env, checked)
        decision = verdict.decision()
        await audit(
            tx, rt, actor, "totp.verify", decision.outcome, environment_id=env.id, user_id=user_id
        )
    CODE_CHECKS.labels("verify", decision.outcome).inc()
    decision.raise_refusal()


async def current_code(
    rt: Runtime, env: EnvironmentRecord, user_id: str, client_id: str | None
) -> tuple[str, float] | None:
    """A code the next check of the authenticator a sign-in asks will accept, and when its
    period ends (for delivery to a webhook, spec 3.11 and 3b.6); None if the window holds none.

    The current step's code, unless it is spent (at or below the replay floor, as right after
    enrollment): then the first later step the window still accepts.
    """
    async with rt.db.transaction() as tx:
        authenticator, config = await load_active(tx, rt, env, user_id, client_id, sign_in=True)
    params = params_of(authenticator)
    current = time_step(rt.clock.now(), params.period)
    past, future = config.totp.valid_past_tokens, config.totp.valid_future_tokens
    centre = current + bounded_centre(
        authenticator.drift_steps, valid_past_tokens=past, valid_future_tokens=future
    )
    step = max(current, centre - past, authenticator.last_step + 1)
    if step > centre + future:
        return None
    code = code_for_step(secret_of(rt, authenticator), params, step)
    return code, float((step + 1) * params.period)
