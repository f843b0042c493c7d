"""What a journey step type is (spec 6): its catalogue entry, its config, and its hosted page.

Each step class declares its own `StepKind` next to its logic (``journeys/steps/``); the
package collects them into the catalogue a definition is checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from twostep.journeys.expressions import MAX_LENGTH

__all__ = [
    "EmptyConfig",
    "ExpressionText",
    "FailureEdge",
    "FormValues",
    "Identifier",
    "PageSpec",
    "StepConfig",
    "StepKind",
]

FailureEdge: TypeAlias = Literal["forbidden", "optional", "required"]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
ExpressionText = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]

FormValues: TypeAlias = Mapping[str, str | None]
"""What a step's page posted: every field the page declares, None when absent or empty."""


class StepConfig(BaseModel):
    """The config of a step: frozen, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    def failure_branch(self) -> bool | None:
        """True: `on_failure` is required; False: forbidden; None: as the kind says."""
        return None


class EmptyConfig(StepConfig):
    """No settings."""


def _no_context(payload: Mapping[str, Any], locale: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class PageSpec:
    """The hosted page of a client-facing step, as plain data the web layer applies.

    ``fields`` are the form fields the page posts, with their maximum lengths; ``to_input``
    turns them into the step's journey input; ``context`` is what the template needs besides
    the payload, in the reader's ``locale``. ``then`` names a step the same form also answers
    when the journey moves on to it (one page may show two journey steps).
    """

    fields: Mapping[str, int]
    to_input: Callable[[FormValues], dict[str, Any]]
    context: Callable[[Mapping[str, Any], str], dict[str, Any]] = _no_context
    then: str | None = None


@dataclass(frozen=True, slots=True)
class StepKind:
    """A step type: its client-facing step id (None: runs on the server), config, edges and
    page (a client-facing kind has one, and its template ``steps/<step_id>.html``)."""

    name: str
    step_id: str | None
    config: type[StepConfig]
    needs_next: bool
    may_fail: bool
    expression_fields: tuple[str, ...] = ()
    needs_failure: bool = False
    page: PageSpec | None = None

    def __post_init__(self) -> None:
        if (self.page is None) != (self.step_id is None):
            raise ValueError(f"step type {self.name!r}: a page exactly when it has a step id")

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
