"""The password step: ``{username, password}``; the username may also be the email."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from twostep.errors import InvalidCredentials, LockedOut, ValidationFailed
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.kinds import FormValues, PageSpec, StepConfig, StepKind
from twostep.journeys.steps.base import Advance, Fail, Outcome, Pause, Step
from twostep.services.authentication import MAX_IDENTIFIER, MAX_PASSWORD, check_password

__all__ = ["MISSING_CREDENTIALS", "PasswordConfig", "PasswordStep"]

MISSING_CREDENTIALS = "Enter your username (or email) and password."


class PasswordConfig(StepConfig):
    """Wrong passwords allowed before the step fails."""

    max_attempts: int = Field(5, ge=1, le=20)


def _credentials(form: FormValues) -> dict[str, Any]:
    return {"username": form["username"], "password": form["password"]}


class PasswordStep(Step):
    spec: ClassVar[StepKind] = StepKind(
        "password",
        "Password",
        PasswordConfig,
        needs_next=True,
        may_fail=True,
        page=PageSpec({"username": 1000, "password": 1024}, _credentials),
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        if ctx.state.user_id is not None and "pwd" in ctx.state.amr:
            if not await self._asked_again(ctx):
                return Advance()  # started for a signed-in user: who they are is known
            # Their password again (OIDC max_age); submit accepts only this same user's.
            return Pause(await self.payload(ctx))
        hint = ctx.input.get("login_hint")
        # OIDC's login_hint: the username field comes filled in.
        if isinstance(hint, str) and 0 < len(hint) <= MAX_IDENTIFIER and hint.isprintable():
            return Pause({"login_hint": hint})
        return await super().enter(ctx)

    async def payload(self, ctx: StepContext) -> dict[str, Any]:
        """A signed-in user asked again sees who is asked, filled in."""
        user = await ctx.user() if "pwd" in ctx.state.amr else None
        hint = None if user is None else user.email or user.username
        return {"login_hint": hint} if hint else {}

    @staticmethod
    async def _asked_again(ctx: StepContext) -> bool:
        """A signed-in user must re-authenticate (``vars.reauthenticate_after``: max_age
        passed) and has no second factor for a later step to ask afresh: the password is all
        there is."""
        if ctx.state.vars.get("reauthenticate_after") is None:
            return False
        user = (await ctx.scope())["user"]
        return user is not None and not user["has_totp"]

    async def submit(self, ctx: StepContext) -> Outcome:
        assert isinstance(self.settings, PasswordConfig)
        username, password = ctx.input.get("username"), ctx.input.get("password")
        ctx.consume("password")
        if not (
            isinstance(username, str)
            and isinstance(password, str)
            and 0 < len(username.strip()) <= MAX_IDENTIFIER
            and username.isprintable()
            and 0 < len(password) <= MAX_PASSWORD
        ):
            return await self.ask_again(ctx, StepError.of(ValidationFailed(MISSING_CREDENTIALS)))
        try:
            user = await check_password(ctx.rt, ctx.actor, ctx.env, username, password)
        except LockedOut as exc:
            return await self.ask_again(ctx, StepError.of(exc))
        except InvalidCredentials as exc:
            if self.count_attempt(ctx) >= self.settings.max_attempts:
                return Fail(StepError.of(exc))
            return await self.ask_again(ctx, StepError.of(exc))
        if ctx.state.user_id not in (None, user.id):
            # The journey already named a user (a register_totp identifier): it must be them.
            return Fail(StepError.of(InvalidCredentials()))
        ctx.state.user_id = user.id
        ctx.state.authenticated_with("pwd", ctx.now)
        return Advance()
