"""TOTP steps: register an authenticator (Mosaic's "Register TOTP"), challenge for a code,
and remove the authenticator (the ``disable`` journey)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import model_validator

from twostep.errors import (
    CodeReused,
    InvalidCode,
    LockedOut,
    NotAuthenticated,
    TotpNotEnrolled,
    TwostepError,
    ValidationFailed,
)
from twostep.i18n import translate
from twostep.journeys import remembered
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.kinds import (
    EmptyConfig,
    ExpressionText,
    FormValues,
    Identifier,
    PageSpec,
    StepConfig,
    StepKind,
)
from twostep.journeys.steps.base import Advance, Fail, Outcome, Pause, Reject, Step, evaluate
from twostep.otp import parse_key_uri
from twostep.services import enrollment
from twostep.services.accounts import sign_up_user
from twostep.services.factors import sign_in_authenticator
from twostep.services.qr import qr_svg
from twostep.services.verification import verify_code

if TYPE_CHECKING:
    from twostep.journeys.definition import StepDefinition

__all__ = [
    "ENTER_CODE",
    "MAX_CODE",
    "NO_IDENTIFIER",
    "NO_LABEL",
    "AuthenticateTotpConfig",
    "AuthenticateTotpStep",
    "DisableTotpStep",
    "RegisterTotpConfig",
    "RegisterTotpStep",
]

NO_IDENTIFIER = "The user identifier expression gave no email or username."
NO_LABEL = "The label expression gave no text."
ENTER_CODE = "Enter the code shown by your authenticator app."
MAX_CODE = 64


class RegisterTotpConfig(StepConfig):
    """Mosaic's "Register TOTP" step (spec 6)."""

    user_auth_state: Literal["authenticated", "not_authenticated"] = "authenticated"
    user_identifier: ExpressionText | None = None
    label: ExpressionText | None = None
    error_output_variable: Identifier | None = None
    # Unset: the failure branch when the step names an on_failure step, else abort (the seed).
    failure_behavior: Literal["abort", "branch"] | None = None

    @model_validator(mode="after")
    def _identifier_when_not_authenticated(self) -> RegisterTotpConfig:
        if self.user_auth_state == "not_authenticated" and self.user_identifier is None:
            raise ValueError("user_auth_state 'not_authenticated' needs a user_identifier")
        return self

    def failure_branch(self) -> bool | None:
        """`branch` needs an `on_failure` step; `abort` ends the journey, so it must have none;
        unset, either is fine."""
        if self.failure_behavior is None:
            return None
        return self.failure_behavior == "branch"


class AuthenticateTotpConfig(StepConfig):
    """Whether the challenge offers the recovery-code alternative, and whether a browser the
    user trusted may skip it or be trusted after it (``remember_device``: the login's)."""

    allow_recovery_code: bool = True
    remember_device: bool = False


def _group(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _key_context(payload: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """The QR code of the key URI, the key in groups of four to type, and its parameters."""
    return {
        "qr_svg": qr_svg(payload["uri"]),
        "grouped_secret": _group(payload["secret"]),
        "params": parse_key_uri(payload["uri"]).params,
    }


def _code_or_alternative(form: FormValues) -> dict[str, Any]:
    alternative = form["alternative"]
    if alternative:
        return {"alternative": alternative}
    return {"code": form["code"], "remember_device": form["remember"] is not None}


class RegisterTotpStep(Step):
    """Issues a secret and answers ``TotpRegistration`` with ``{secret, uri}``; any submit,
    even an empty one, completes it (a following challenge step confirms the first code)."""

    spec: ClassVar[StepKind] = StepKind(
        "register_totp",
        "TotpRegistration",
        RegisterTotpConfig,
        needs_next=True,
        may_fail=True,
        expression_fields=("user_identifier", "label"),
        # One page shows the QR code and asks the first code: any submit completes this step,
        # and the code answers the challenge the journey then waits on.
        page=PageSpec({"code": 100}, lambda form: {}, _key_context, then="TotpAuthentication"),
    )

    def __init__(self, definition: StepDefinition) -> None:
        super().__init__(definition)
        assert isinstance(self.settings, RegisterTotpConfig)
        self.config: RegisterTotpConfig = self.settings
        self.identifier = self.expression(self.config.user_identifier)
        self.label = self.expression(self.config.label)

    async def enter(self, ctx: StepContext) -> Outcome:
        try:
            user_id = await self._user_id(ctx)
            current = await sign_in_authenticator(ctx.rt, ctx.env, user_id, ctx.app.client_id)
            if current is not None and current.application_id != ctx.app.id:
                # Another application's authenticator protects the account: one added next to
                # it weakens it (spec 3b.2). Over this application's own, register refuses.
                await ctx.require_fresh_factor()
            label = None if self.label is None else await self._label(ctx)
            registration = await enrollment.register(
                ctx.rt, ctx.actor, ctx.env, user_id, client_id=ctx.app.client_id, label=label
            )
        except TwostepError as exc:
            return self._failed(ctx, exc)
        ctx.state.registered = registration.id if registration.status == "pending" else None
        if registration.recovery_codes:
            ctx.state.recovery_codes = ctx.seal(registration.recovery_codes)
        return Pause({"secret": registration.secret, "uri": registration.uri})

    async def submit(self, ctx: StepContext) -> Outcome:
        return Advance()

    async def _label(self, ctx: StepContext) -> str:
        assert self.label is not None
        value = await evaluate(ctx, self.label)
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            raise ValidationFailed(NO_LABEL)
        return str(value)

    async def _user_id(self, ctx: StepContext) -> str:
        if self.config.user_auth_state == "authenticated" or self.identifier is None:
            if ctx.state.user_id is None or not ctx.state.amr:
                raise NotAuthenticated()
            return ctx.state.user_id
        identifier = await evaluate(ctx, self.identifier)
        if not isinstance(identifier, str) or not identifier.strip():
            raise ValidationFailed(NO_IDENTIFIER)
        # Only a user this journey authenticated may be named; anyone else is a sign-up.
        proven = ctx.state.user_id if ctx.state.amr else None
        user = await sign_up_user(ctx.rt, ctx.actor, ctx.env, identifier, proven=proven)
        if ctx.state.user_id not in (None, user.id):
            raise NotAuthenticated()
        ctx.state.user_id = user.id
        return user.id

    def _failed(self, ctx: StepContext, exc: TwostepError) -> Outcome:
        error = StepError.of(exc)
        if self.config.error_output_variable:
            ctx.state.vars = {
                **ctx.state.vars,
                self.config.error_output_variable: {
                    "code": error.code,
                    "detail": translate("en", error.msgid, **error.params),
                },
            }
        if self.config.failure_behavior == "abort":
            return Reject(error)
        # "branch", or unset: the failure branch when the step has one (the runner ends the
        # journey with this error when it has none).
        return Fail(error)


class AuthenticateTotpStep(Step):
    """Asks for a code (``TotpAuthentication``, input ``{code}``): lockout and replay exactly as
    the verify API. ``{"alternative": "recovery_code"}`` takes the ``on_failure`` branch."""

    spec: ClassVar[StepKind] = StepKind(
        "authenticate_totp",
        "TotpAuthentication",
        AuthenticateTotpConfig,
        needs_next=True,
        may_fail=True,
        page=PageSpec({"code": 100, "alternative": 40, "remember": 8}, _code_or_alternative),
    )

    def __init__(self, definition: StepDefinition) -> None:
        super().__init__(definition)
        assert isinstance(self.settings, AuthenticateTotpConfig)
        self.offers_recovery = (
            self.settings.allow_recovery_code and definition.on_failure is not None
        )
        self.remembers = self.settings.remember_device

    async def enter(self, ctx: StepContext) -> Outcome:
        if ctx.state.user_id is None:
            return Fail(StepError.of(NotAuthenticated()))
        if ctx.state.registered is None:
            try:
                # The authenticator a sign-in asks, whichever application's (spec 3b.1).
                asked = await sign_in_authenticator(
                    ctx.rt, ctx.env, ctx.state.user_id, ctx.app.client_id
                )
            except TwostepError as exc:
                return Fail(StepError.of(exc))
            if asked is None:
                return Fail(StepError.of(TotpNotEnrolled()))
            if self.remembers and await remembered.skip_with_device(ctx):
                return Advance()
        return Pause(await self.payload(ctx))

    async def payload(self, ctx: StepContext) -> dict[str, Any]:
        confirming = ctx.state.registered is not None
        offered = self.offers_recovery and not confirming
        days = remembered.offered_days(ctx) if self.remembers else 0
        trust = {"remember_days": days} if days > 0 else {}
        return {"alternatives": ["recovery_code"] if offered else [], **trust}

    async def submit(self, ctx: StepContext) -> Outcome:
        assert ctx.state.user_id is not None
        if (
            ctx.input.get("alternative") == "recovery_code"
            and (await self.payload(ctx))["alternatives"]
        ):
            return Fail()
        code = ctx.input.get("code")
        ctx.consume("code")
        offered = remembered.offered_days(ctx) if self.remembers else 0
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE:
            return await self.ask_again(ctx, StepError.of(ValidationFailed(ENTER_CODE)))
        try:
            if ctx.state.registered is not None:
                codes = await enrollment.confirm(
                    ctx.rt,
                    ctx.actor,
                    ctx.env,
                    ctx.state.user_id,
                    code,
                    client_id=ctx.app.client_id,
                )
                ctx.state.registered = None
                ctx.state.recovery_codes = ctx.seal(codes)
            else:
                await verify_code(
                    ctx.rt,
                    ctx.actor,
                    ctx.env,
                    ctx.state.user_id,
                    code,
                    client_id=ctx.app.client_id,
                    sign_in=True,
                )
        except (InvalidCode, CodeReused, LockedOut) as exc:
            return await self.ask_again(ctx, StepError.of(exc))
        except TotpNotEnrolled as exc:
            return Fail(StepError.of(exc))
        ctx.state.authenticated_with("otp", ctx.now)
        await remembered.remember_after_code(ctx, offered)
        return Advance()


class DisableTotpStep(Step):
    """Removes the authenticator the signed-in user's sign-in asks, and its recovery codes,
    once the journey proved a fresh second factor (spec 3.8, 3b.2)."""

    # Removes the user's authenticator and recovery codes (spec 3.8): the `disable` journey.
    spec: ClassVar[StepKind] = StepKind(
        "disable_totp", None, EmptyConfig, needs_next=True, may_fail=False
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        if ctx.state.user_id is None or not ctx.state.amr:
            return Reject(StepError.of(NotAuthenticated()))
        try:
            await ctx.require_fresh_factor()
            await enrollment.reset(
                ctx.rt,
                ctx.actor,
                ctx.env,
                ctx.state.user_id,
                client_id=ctx.app.client_id,
                end_sessions=False,  # the user's own act: the journey issues their session
                sign_in=True,  # the authenticator the user proved, whichever application's
                keep_last=ctx.env.config.totp.enforce,  # the assurance floor (issue 12.3)
            )
        except TotpNotEnrolled:  # already gone: the journey's goal holds
            pass
        except TwostepError as exc:  # stale factor; or totp.enforce keeps the last one
            return Reject(StepError.of(exc))
        return Advance()
