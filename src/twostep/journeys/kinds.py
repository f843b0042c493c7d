"""The catalogue of journey step types (spec 6): each type's config model and edge rules, as data.

The runtime step classes register against these names; a definition is checked against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twostep.journeys.expressions import MAX_LENGTH

__all__ = [
    "KINDS",
    "AuthenticateTotpConfig",
    "ConditionConfig",
    "EmptyConfig",
    "FailureEdge",
    "PasswordConfig",
    "RegisterTotpConfig",
    "RejectConfig",
    "SetVariableConfig",
    "StepConfig",
    "StepKind",
]

FailureEdge: TypeAlias = Literal["forbidden", "optional", "required"]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
ExpressionText = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]


class StepConfig(BaseModel):
    """The config of a step: frozen, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    def failure_branch(self) -> bool | None:
        """True: `on_failure` is required; False: forbidden; None: as the kind says."""
        return None


class EmptyConfig(StepConfig):
    """No settings."""


class PasswordConfig(StepConfig):
    """Wrong passwords allowed before the step fails."""

    max_attempts: int = Field(5, ge=1, le=20)


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
    """Whether the challenge offers the recovery-code alternative."""

    allow_recovery_code: bool = True


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


@dataclass(frozen=True, slots=True)
class StepKind:
    """A step type: its client-facing step id (None: runs on the server), config and edges."""

    name: str
    step_id: str | None
    config: type[StepConfig]
    needs_next: bool
    may_fail: bool
    expression_fields: tuple[str, ...] = ()
    needs_failure: bool = False

    @property
    def client_facing(self) -> bool:
        """It pauses the journey for the client's input."""
        return self.step_id is not None

    @property
    def terminal(self) -> bool:
        """It ends the journey (complete, reject)."""
        return not self.needs_next

    def failure_edge(self, config: StepConfig) -> FailureEdge:
        """Whether a step of this kind with this config must, may or must not name `on_failure`."""
        if not self.may_fail:
            return "forbidden"
        branch = config.failure_branch()
        if branch is None:
            return "required" if self.needs_failure else "optional"
        return "required" if branch else "forbidden"


def _catalogue(*kinds: StepKind) -> Mapping[str, StepKind]:
    return MappingProxyType({kind.name: kind for kind in kinds})


KINDS: Mapping[str, StepKind] = _catalogue(
    StepKind("password", "Password", PasswordConfig, needs_next=True, may_fail=True),
    StepKind(
        "register_totp",
        "TotpRegistration",
        RegisterTotpConfig,
        needs_next=True,
        may_fail=True,
        expression_fields=("user_identifier", "label"),
    ),
    StepKind(
        "authenticate_totp",
        "TotpAuthentication",
        AuthenticateTotpConfig,
        needs_next=True,
        may_fail=True,
    ),
    StepKind("recovery_code", "RecoveryCode", EmptyConfig, needs_next=True, may_fail=True),
    StepKind("show_recovery_codes", "RecoveryCodes", EmptyConfig, needs_next=True, may_fail=False),
    # A third-party application asks the user's leave (OAuth): approve goes on, deny fails.
    StepKind("consent", "Consent", EmptyConfig, needs_next=True, may_fail=True),
    # Delivery failures are logged and never block the journey (spec 3.11): no failure branch.
    StepKind("send_code", None, EmptyConfig, needs_next=True, may_fail=False),
    # Removes the user's authenticator and recovery codes (spec 3.8): the `disable` journey.
    StepKind("disable_totp", None, EmptyConfig, needs_next=True, may_fail=False),
    StepKind(
        "condition",
        None,
        ConditionConfig,
        needs_next=True,
        may_fail=True,
        expression_fields=("expression",),
        needs_failure=True,
    ),
    StepKind(
        "set_variable",
        None,
        SetVariableConfig,
        needs_next=True,
        may_fail=False,
        expression_fields=("value",),
    ),
    StepKind("complete", None, EmptyConfig, needs_next=False, may_fail=False),
    StepKind("reject", None, RejectConfig, needs_next=False, may_fail=False),
)
