"""Server-side control steps: branch on a condition, set a variable, end the journey."""

from __future__ import annotations

from typing import ClassVar

from twostep import errors
from twostep.errors import AccessDenied, AccountLocked, NotAuthenticated
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.definition import StepDefinition
from twostep.journeys.kinds import ConditionConfig, RejectConfig, SetVariableConfig
from twostep.journeys.steps.base import Advance, Fail, Finish, Outcome, Reject, Step, evaluate
from twostep.oauth.tokens import issue_code
from twostep.services.authentication import issue_session

__all__ = ["CompleteStep", "ConditionStep", "RejectStep", "SetVariableStep"]

# The texts of the errors a reject step may name by code.
_KNOWN = {
    cls.code: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.TwostepError)
}


class ConditionStep(Step):
    """``next`` when the expression is truthy; ``on_failure`` when it is not, or is an error
    (``vars.count >= 3`` with no count)."""

    kind: ClassVar[str] = "condition"

    def __init__(self, definition: StepDefinition) -> None:
        super().__init__(definition)
        assert isinstance(self.settings, ConditionConfig)
        self.test = self.expression(self.settings.expression)

    async def enter(self, ctx: StepContext) -> Outcome:
        assert self.test is not None
        return Advance() if await evaluate(ctx, self.test) else Fail()


class SetVariableStep(Step):
    """``vars.<name>`` becomes the expression's value (null when it is an error)."""

    kind: ClassVar[str] = "set_variable"

    def __init__(self, definition: StepDefinition) -> None:
        super().__init__(definition)
        assert isinstance(self.settings, SetVariableConfig)
        self.name = self.settings.name
        self.value = self.expression(self.settings.value)

    async def enter(self, ctx: StepContext) -> Outcome:
        assert self.value is not None
        ctx.state.vars = {**ctx.state.vars, self.name: await evaluate(ctx, self.value)}
        return Advance()


class CompleteStep(Step):
    """Success: a session token for the signed-in user. Nobody signed in, a closed lock or a
    disabled account end in Rejection instead."""

    kind: ClassVar[str] = "complete"

    async def enter(self, ctx: StepContext) -> Outcome:
        user = await ctx.user()
        if user is None or not ctx.state.amr:
            return Reject(StepError.of(NotAuthenticated()))
        if user.lock_closed:
            return Reject(StepError.of(AccountLocked()))
        if user.status != "active":
            return Reject(StepError.of(AccessDenied()))
        issued = await issue_session(
            ctx.rt,
            ctx.actor,
            ctx.env,
            user_id=user.id,
            client_id=ctx.app.client_id,
            amr=list(ctx.state.amr),
            auth_time=ctx.state.auth_time or ctx.now,
        )
        data = {
            "token": issued.token,
            "token_type": "Bearer",
            "expires_in": ctx.rt.settings.session_ttl_s,
            "user_id": user.id,
            "amr": list(ctx.state.amr),
        }
        request = ctx.state.oauth
        if request is not None:
            # An OAuth sign-in: the end is an authorization code for the application.
            data["authorization_code"] = await issue_code(
                ctx.rt,
                env=ctx.env,
                client_id=request["client_id"],
                user_id=user.id,
                redirect_uri=request["redirect_uri"],
                code_challenge=request["code_challenge"],
                code_challenge_method=request["code_challenge_method"],
                nonce=request["nonce"],
                scope=request["scope"],
                amr=list(ctx.state.amr),
                auth_time=ctx.state.auth_time or ctx.now,
            )
            data["redirect_uri"] = request["redirect_uri"]
            data["state"] = request["state"]
        return Finish(data)


class RejectStep(Step):
    """Rejection with the configured code (and text); without a code, the error that led
    here, else ``access_denied``."""

    kind: ClassVar[str] = "reject"

    async def enter(self, ctx: StepContext) -> Outcome:
        assert isinstance(self.settings, RejectConfig)
        code, detail = self.settings.code, self.settings.detail
        if code is None:
            return Reject(ctx.last_error or StepError.of(AccessDenied()))
        known = _KNOWN.get(code)
        msgid = detail or (known.default_msgid if known else AccessDenied.default_msgid)
        return Reject(StepError(code, msgid))
