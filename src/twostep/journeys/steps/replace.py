"""Replacing the user's authenticator (a new phone, issue 12.3): ``TotpReplacement`` shows a
new key's QR code and asks its first code; only then does the old key stop working."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from twostep.errors import (
    InvalidCode,
    LockedOut,
    NotAuthenticated,
    TwostepError,
    ValidationFailed,
)
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.kinds import EmptyConfig, FormValues, PageSpec, StepKind
from twostep.journeys.steps.base import Advance, Fail, Outcome, Pause, Reject, Step
from twostep.otp import b32encode, parse_key_uri
from twostep.services.qr import qr_svg
from twostep.services.replacement import Replacement, finish_replacement, start_replacement

__all__ = ["ENTER_NEW_CODE", "MAX_ATTEMPTS", "ReplaceTotpStep"]

MAX_ATTEMPTS = 5
ENTER_NEW_CODE = "Enter the code your new authenticator app shows."


def _code(form: FormValues) -> dict[str, Any]:
    return {"code": form["code"]}


def _new_key(payload: Mapping[str, Any], locale: str) -> dict[str, Any]:
    secret = payload["secret"]
    return {
        "qr_svg": qr_svg(payload["uri"]),
        "grouped_secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "params": parse_key_uri(payload["uri"]).params,
    }


class ReplaceTotpStep(Step):
    """A new key for the authenticator the user's sign-in asks, after a fresh second factor
    (spec 3b.2); its first code swaps it in and issues new recovery codes (shown next by
    ``show_recovery_codes``). Five wrong codes, or none to replace, take the failure branch."""

    spec: ClassVar[StepKind] = StepKind(
        "replace_totp",
        "TotpReplacement",
        EmptyConfig,
        needs_next=True,
        may_fail=True,
        page=PageSpec({"code": 100}, _code, _new_key),
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        if ctx.state.user_id is None or not ctx.state.amr:
            return Reject(StepError.of(NotAuthenticated()))
        try:
            await ctx.require_fresh_factor()
            new = await start_replacement(ctx.rt, ctx.env, ctx.state.user_id, ctx.app.client_id)
        except TwostepError as exc:
            return Fail(StepError.of(exc))
        ctx.state.replacement = ctx.seal({"secret": b32encode(new.secret), "uri": new.uri})
        return Pause(await self.payload(ctx))

    async def payload(self, ctx: StepContext) -> dict[str, Any]:
        assert ctx.state.replacement is not None
        shown = ctx.unseal(ctx.state.replacement)
        return {"secret": shown["secret"], "uri": shown["uri"]}

    async def submit(self, ctx: StepContext) -> Outcome:
        assert ctx.state.user_id is not None
        assert ctx.state.replacement is not None
        code = ctx.input.get("code")
        ctx.consume("code")
        if not isinstance(code, str) or not code.strip() or len(code) > 64:
            return await self.ask_again(ctx, StepError.of(ValidationFailed(ENTER_NEW_CODE)))
        key = parse_key_uri(ctx.unseal(ctx.state.replacement)["uri"])
        new = Replacement(key.secret, key.params, "")
        try:
            codes = await finish_replacement(
                ctx.rt, ctx.actor, ctx.env, ctx.state.user_id, ctx.app.client_id, new, code
            )
        except LockedOut as exc:
            return await self.ask_again(ctx, StepError.of(exc))
        except InvalidCode as exc:
            if self.count_attempt(ctx) >= MAX_ATTEMPTS:
                return Fail(StepError.of(exc))
            return await self.ask_again(ctx, StepError.of(exc))
        except TwostepError as exc:
            return Fail(StepError.of(exc))
        ctx.state.replacement = None
        ctx.state.recovery_codes = ctx.seal(codes)
        ctx.state.authenticated_with("otp", ctx.now)
        return Advance()
