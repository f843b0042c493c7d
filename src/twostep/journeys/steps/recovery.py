"""Recovery-code steps: sign in with one (``RecoveryCode``), and show a fresh set once
(``RecoveryCodes``, which the user confirms having saved with ``{confirmed: true}``)."""

from __future__ import annotations

from typing import Any, ClassVar

from twostep.errors import (
    LockedOut,
    NotAuthenticated,
    RecoveryCodeInvalid,
    TwostepError,
    ValidationFailed,
)
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.kinds import EmptyConfig, FormValues, PageSpec, StepKind
from twostep.journeys.steps.base import Advance, Fail, Outcome, Pause, Reject, Step
from twostep.services.admin_recovery import BYPASS_METHOD, use_bypass_code
from twostep.services.factors import SECOND_FACTORS
from twostep.services.recovery import regenerate, use_recovery_code

__all__ = [
    "CONFIRM_SAVED",
    "ENTER_RECOVERY_CODE",
    "MAX_ATTEMPTS",
    "RecoveryCodeStep",
    "ShowRecoveryCodesStep",
]

MAX_ATTEMPTS = 5
ENTER_RECOVERY_CODE = "Enter one of your recovery codes."
CONFIRM_SAVED = "Confirm that you have saved your recovery codes."


def _code(form: FormValues) -> dict[str, Any]:
    return {"code": form["code"]}


def _saved(form: FormValues) -> dict[str, Any]:
    # The page's checkbox posts "yes" when ticked and nothing when not.
    return {"confirmed": form["confirmed"] == "yes"}


class RecoveryCodeStep(Step):
    """One recovery code instead of the TOTP code; lifts a lockout. Five wrong ones, none
    left, or a second one within ``once_per_hours`` take the failure branch. An admin's
    bypass code is accepted here too, once (amr ``bypass``; the authenticators go)."""

    spec: ClassVar[StepKind] = StepKind(
        "recovery_code",
        "RecoveryCode",
        EmptyConfig,
        needs_next=True,
        may_fail=True,
        page=PageSpec({"code": 100}, _code),
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        if ctx.state.user_id is None:
            return Fail(StepError.of(NotAuthenticated()))
        return Pause({})

    async def submit(self, ctx: StepContext) -> Outcome:
        assert ctx.state.user_id is not None
        code = ctx.input.get("code")
        ctx.consume("code")
        if not isinstance(code, str) or not code.strip() or len(code) > 64:
            return await self.ask_again(ctx, StepError.of(ValidationFailed(ENTER_RECOVERY_CODE)))
        if await use_bypass_code(ctx.rt, ctx.actor, ctx.env, ctx.state.user_id, code):
            # The authenticators are gone, and what proved them with them: the bypass is no
            # second factor (spec 3b.2), and the login goes on into enrollment.
            ctx.state.amr = [m for m in ctx.state.amr if m not in SECOND_FACTORS]
            ctx.state.authenticated_with(BYPASS_METHOD, ctx.now)
            return Advance()
        try:
            await use_recovery_code(
                ctx.rt,
                ctx.actor,
                ctx.env,
                ctx.state.user_id,
                code,
                client_id=ctx.app.client_id,
                sign_in=True,
            )
        except LockedOut as exc:
            return await self.ask_again(ctx, StepError.of(exc))
        except RecoveryCodeInvalid as exc:
            if self.count_attempt(ctx) >= MAX_ATTEMPTS:
                return Fail(StepError.of(exc))
            return await self.ask_again(ctx, StepError.of(exc))
        except TwostepError as exc:  # exhausted, rate limited, not enrolled
            return Fail(StepError.of(exc))
        ctx.state.authenticated_with("recovery", ctx.now)
        return Advance()


class ShowRecoveryCodesStep(Step):
    """Shows the codes issued when the authenticator was activated in this journey, else a
    freshly regenerated set (which replaces the old one)."""

    spec: ClassVar[StepKind] = StepKind(
        "show_recovery_codes",
        "RecoveryCodes",
        EmptyConfig,
        needs_next=True,
        may_fail=False,
        page=PageSpec({"confirmed": 10}, _saved),
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        if ctx.state.user_id is None or not ctx.state.amr:
            return Reject(StepError.of(NotAuthenticated()))
        if ctx.state.recovery_codes is None:
            try:
                # New codes void the old ones the user kept: a fresh second factor first (3b.2).
                await ctx.require_fresh_factor()
                codes = await regenerate(
                    ctx.rt,
                    ctx.actor,
                    ctx.env,
                    ctx.state.user_id,
                    client_id=ctx.app.client_id,
                    sign_in=True,
                )
            except TwostepError as exc:
                return Reject(StepError.of(exc))
            ctx.state.recovery_codes = ctx.seal(codes)
        return Pause(await self.payload(ctx))

    async def payload(self, ctx: StepContext) -> dict[str, Any]:
        assert ctx.state.recovery_codes is not None
        return {"codes": ctx.unseal(ctx.state.recovery_codes)}

    async def submit(self, ctx: StepContext) -> Outcome:
        if ctx.input.get("confirmed") is not True:
            return await self.ask_again(ctx, StepError.of(ValidationFailed(CONFIRM_SAVED)))
        ctx.state.recovery_codes = None
        return Advance()
