"""What a step is to the runner: enter it, maybe pause for input, and say where to go next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from twostep.journeys.context import StepContext, StepError
from twostep.journeys.expressions import Expression, ExpressionError, JSONValue, parse_expression
from twostep.journeys.kinds import StepConfig, StepKind
from twostep.oauth.signin import CodeIssued

if TYPE_CHECKING:  # definition.py checks definitions against the step classes: no cycle
    from twostep.journeys.definition import StepDefinition

__all__ = [
    "Advance",
    "Fail",
    "Finish",
    "Outcome",
    "Pause",
    "Reject",
    "SessionIssued",
    "Step",
    "evaluate",
]


@dataclass(frozen=True, slots=True)
class Pause:
    """Answer the client with this step's id and payload (and the error of a wrong input)."""

    payload: dict[str, Any]
    error: StepError | None = None


@dataclass(frozen=True, slots=True)
class Advance:
    """Go on to the step's ``next``."""


@dataclass(frozen=True, slots=True)
class Fail:
    """Go down the step's ``on_failure`` branch; without one, the journey ends in Rejection."""

    error: StepError | None = None


@dataclass(frozen=True, slots=True)
class SessionIssued:
    """The session a finished journey signed the user in to."""

    token: str = field(repr=False)
    expires_in: int
    user_id: str
    amr: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The members of a journey's Success answer (the token and whom it signs in)."""
        return {
            "token": self.token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "user_id": self.user_id,
            "amr": list(self.amr),
        }


@dataclass(frozen=True, slots=True)
class Finish:
    """The journey ends in Success: a session, and the code of the OAuth sign-in it answers."""

    session: SessionIssued
    code: CodeIssued | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """The journey ends in Rejection with this error, whatever branches the step has."""

    error: StepError


Outcome = Pause | Advance | Fail | Finish | Reject


class Step:
    """A step of one journey definition. Subclasses declare their ``spec`` (the catalogue entry,
    its page included) and override what they do; ``kind`` is the spec's name.

    ``enter`` runs when the journey arrives at the step; a client-facing step then pauses, and
    ``submit`` takes the client's answer. ``payload`` is what a paused step shows, recomputed
    when a wrong answer makes the step ask again.
    """

    spec: ClassVar[StepKind]
    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.kind = cls.spec.name

    def __init__(self, definition: StepDefinition) -> None:
        self.definition = definition
        self.id = definition.id
        self.settings: StepConfig = self.spec.config.model_validate(definition.config)

    @property
    def step_id(self) -> str | None:
        return self.spec.step_id

    def expression(self, text: str | None) -> Expression | None:
        return None if text is None else parse_expression(text)

    async def enter(self, ctx: StepContext) -> Outcome:
        return Pause(await self.payload(ctx))

    async def payload(self, ctx: StepContext) -> dict[str, Any]:
        return {}

    async def submit(self, ctx: StepContext) -> Outcome:
        raise NotImplementedError(f"{self.kind} steps run on the server")

    async def ask_again(self, ctx: StepContext, error: StepError) -> Pause:
        return Pause(await self.payload(ctx), error)

    def count_attempt(self, ctx: StepContext) -> int:
        """One more wrong answer to this step; returns how many so far."""
        attempts = ctx.state.attempts.get(self.id, 0) + 1
        ctx.state.attempts = {**ctx.state.attempts, self.id: attempts}
        return attempts


async def evaluate(ctx: StepContext, expression: Expression) -> JSONValue:
    """The expression's value over the journey; a type error (``null >= 3``) gives None."""
    try:
        return expression.evaluate(await ctx.scope())
    except ExpressionError:
        return None
