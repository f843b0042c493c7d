"""Server-side control steps: branch on a condition, set a variable, end the journey."""

from __future__ import annotations

from typing import Any, ClassVar

from twostep import errors
from twostep.errors import AccessDenied, AccountLocked, NotAuthenticated
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.definition import StepDefinition
from twostep.journeys.kinds import ConditionConfig, RejectConfig, SetVariableConfig
from twostep.journeys.steps.base import Advance, Fail, Finish, Outcome, Reject, Step, evaluate
from twostep.oauth.errors import OAuthError
from twostep.oauth.tokens import issue_code
from twostep.services.authentication import issue_session
from twostep.services.factors import proves_second_factor, second_factor_required

__all__ = ["CompleteStep", "ConditionStep", "RejectStep", "SetVariableStep"]

# An OAuth request no code can be issued for (the pages' heading for such requests).
BAD_REQUEST = "The sign-in request is not valid"
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
    """Success: a session token for the signed-in user. Nobody signed in, a closed lock, a
    disabled account or a second factor owed end in Rejection instead."""

    kind: ClassVar[str] = "complete"

    async def enter(self, ctx: StepContext) -> Outcome:
        user = await ctx.user()
        if user is None or not ctx.state.amr:
            return Reject(StepError.of(NotAuthenticated()))
        if user.lock_closed:
            return Reject(StepError.of(AccountLocked()))
        if user.status != "active":
            return Reject(StepError.of(AccessDenied()))
        if not proves_second_factor(ctx.state.amr) and await second_factor_required(
            ctx.rt, ctx.env, user.id, ctx.app.client_id
        ):
            # Whatever the journey's steps, the password alone never signs in a user who has
            # an authenticator anywhere in the environment (spec 3b.1).
            return Reject(StepError.of(NotAuthenticated()))
        auth_time = ctx.state.auth_time or ctx.now
        try:
            # An OAuth sign-in ends in an authorization code: issued first, so that a request
            # the code cannot be issued for (a journey in flight since before /oauth/authorize
            # checked PKCE) is refused with no session made, and never as a 500.
            code = await self._code(ctx, user.id, auth_time)
        except OAuthError:
            return Reject(StepError.of(AccessDenied(BAD_REQUEST)))
        issued = await issue_session(
            ctx.rt,
            ctx.actor,
            ctx.env,
            user_id=user.id,
            client_id=ctx.app.client_id,
            amr=list(ctx.state.amr),
            auth_time=auth_time,
        )
        data = {
            "token": issued.token,
            "token_type": "Bearer",
            "expires_in": ctx.rt.settings.session_ttl_s,
            "user_id": user.id,
            "amr": list(ctx.state.amr),
        }
        return Finish({**data, **code})

    @staticmethod
    async def _code(ctx: StepContext, user_id: str, auth_time: float) -> dict[str, Any]:
        """The authorization code of the OAuth request the journey answers, if any, and
        where it goes."""
        request = ctx.state.oauth
        if request is None:
            return {}
        before = ctx.state.vars.get("reauthenticate_after")
        if isinstance(before, int | float) and auth_time <= before:
            # max_age asked for a new authentication and no step of the journey gave one.
            raise NotAuthenticated()
        code = await issue_code(
            ctx.rt,
            env=ctx.env,
            client_id=request["client_id"],
            user_id=user_id,
            redirect_uri=request["redirect_uri"],
            code_challenge=request["code_challenge"],
            code_challenge_method=request["code_challenge_method"],
            nonce=request["nonce"],
            scope=request["scope"],
            amr=list(ctx.state.amr),
            auth_time=auth_time,
        )
        return {
            "authorization_code": code,
            "redirect_uri": request["redirect_uri"],
            "state": request["state"],
        }


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
