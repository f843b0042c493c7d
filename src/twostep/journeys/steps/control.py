"""Server-side control steps: branch on a condition, set a variable, end the journey."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from twostep import errors
from twostep.errors import AccessDenied, AccountLocked, NotAuthenticated
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.kinds import EmptyConfig, ExpressionText, Identifier, StepConfig, StepKind
from twostep.journeys.steps.base import (
    Advance,
    Fail,
    Finish,
    Outcome,
    Reject,
    SessionIssued,
    Step,
    evaluate,
)
from twostep.oauth.signin import CodeIssued, OAuthError, issue_code_for
from twostep.services.authentication import issue_session
from twostep.services.factors import protects_account, second_factor_required

if TYPE_CHECKING:
    from twostep.journeys.definition import StepDefinition

__all__ = [
    "BAD_REQUEST",
    "CompleteStep",
    "ConditionConfig",
    "ConditionStep",
    "RejectConfig",
    "RejectStep",
    "SetVariableConfig",
    "SetVariableStep",
]

# An OAuth request no code can be issued for (the pages' heading for such requests).
BAD_REQUEST = "The sign-in request is not valid"
# The texts of the errors a reject step may name by code.
_KNOWN = {
    cls.code: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.TwostepError)
}


class ConditionConfig(StepConfig):
    """`next` when the expression is true, `on_failure` when it is false."""

    expression: ExpressionText


class SetVariableConfig(StepConfig):
    """`vars.<name>` becomes the value of the expression."""

    name: Identifier
    value: ExpressionText


class RejectConfig(StepConfig):
    """The error a Rejection carries: a stable snake_case code and an optional text. Without a
    code, the error that sent the journey here (else ``access_denied``)."""

    code: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    detail: str | None = Field(None, min_length=1, max_length=500)


class ConditionStep(Step):
    """``next`` when the expression is truthy; ``on_failure`` when it is not, or is an error
    (``vars.count >= 3`` with no count)."""

    spec: ClassVar[StepKind] = StepKind(
        "condition",
        None,
        ConditionConfig,
        needs_next=True,
        may_fail=True,
        expression_fields=("expression",),
        needs_failure=True,
    )

    def __init__(self, definition: StepDefinition) -> None:
        super().__init__(definition)
        assert isinstance(self.settings, ConditionConfig)
        self.test = self.expression(self.settings.expression)

    async def enter(self, ctx: StepContext) -> Outcome:
        assert self.test is not None
        return Advance() if await evaluate(ctx, self.test) else Fail()


class SetVariableStep(Step):
    """``vars.<name>`` becomes the expression's value (null when it is an error)."""

    spec: ClassVar[StepKind] = StepKind(
        "set_variable",
        None,
        SetVariableConfig,
        needs_next=True,
        may_fail=False,
        expression_fields=("value",),
    )

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

    spec: ClassVar[StepKind] = StepKind(
        "complete", None, EmptyConfig, needs_next=False, may_fail=False
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        user = await ctx.user()
        if user is None or not ctx.state.amr:
            return Reject(StepError.of(NotAuthenticated()))
        if user.lock_closed:
            return Reject(StepError.of(AccountLocked()))
        if user.status != "active":
            return Reject(StepError.of(AccessDenied()))
        if not protects_account(ctx.state.amr) and await second_factor_required(
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
        session = SessionIssued(
            issued.token, ctx.rt.settings.session_ttl_s, user.id, tuple(ctx.state.amr)
        )
        return Finish(session, code)

    @staticmethod
    async def _code(ctx: StepContext, user_id: str, auth_time: float) -> CodeIssued | None:
        """The authorization code of the OAuth request the journey answers, if any, and
        where it goes."""
        request = ctx.state.authorization
        if request is None:
            return None
        before = ctx.state.vars.get("reauthenticate_after")
        if isinstance(before, int | float) and auth_time <= before:
            # max_age asked for a new authentication and no step of the journey gave one.
            raise NotAuthenticated()
        return await issue_code_for(
            ctx.rt, ctx.env, request, user_id=user_id, amr=ctx.state.amr, auth_time=auth_time
        )


class RejectStep(Step):
    """Rejection with the configured code (and text); without a code, the error that led
    here, else ``access_denied``."""

    spec: ClassVar[StepKind] = StepKind(
        "reject", None, RejectConfig, needs_next=False, may_fail=False
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        assert isinstance(self.settings, RejectConfig)
        code, detail = self.settings.code, self.settings.detail
        if code is None:
            return Reject(ctx.last_error or StepError.of(AccessDenied()))
        known = _KNOWN.get(code)
        msgid = detail or (known.default_msgid if known else AccessDenied.default_msgid)
        return Reject(StepError(code, msgid))
