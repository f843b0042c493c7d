"""Journey definitions (spec 6): the JSON model, the graph checks, and the built-in journeys.

A definition is refused with ``ValidationFailed`` whose errors name the offending step:
``loc`` points at ``["steps", <index>, <field>]`` and ``msg`` starts with the step id.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twostep.errors import ValidationFailed
from twostep.journeys.expressions import ExpressionError, parse_expression
from twostep.journeys.kinds import StepConfig, StepKind
from twostep.journeys.steps import KINDS

__all__ = [
    "BUILTIN_DISABLE",
    "BUILTIN_ENROLL",
    "BUILTIN_LOGIN",
    "BUILTIN_REGENERATE_CODES",
    "BUILTIN_REPLACE",
    "EDGES",
    "INVALID_DEFINITION",
    "Error",
    "JourneyDefinition",
    "StepDefinition",
    "StepId",
    "validate_definition",
]

INVALID_DEFINITION = "The journey definition is not valid."
EDGES = ("next", "on_failure")

StepId = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
Error = dict[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class StepDefinition(_Model):
    """One step: its type, its config, and the steps it leads to."""

    id: StepId
    type: str = Field(min_length=1, max_length=64)
    config: dict[str, Any] = Field(default_factory=dict)
    next: StepId | None = None
    on_failure: StepId | None = None


class JourneyDefinition(_Model):
    """A graph of steps entered at ``start``."""

    start: StepId
    steps: list[StepDefinition] = Field(min_length=1, max_length=100)


def validate_definition(raw: object) -> JourneyDefinition:
    """The definition in ``raw`` with every config's defaults filled in, or ValidationFailed."""
    definition = _parse(raw)
    index: dict[str, int] = {}
    for position, step in enumerate(definition.steps):
        index.setdefault(step.id, position)
    configs: list[StepConfig | None] = []
    errors: list[Error] = []
    for position, step in enumerate(definition.steps):
        config, step_errors = _check_step(position, step, index)
        configs.append(config)
        errors += step_errors
    if definition.start not in index:
        errors.append(_start_error(definition.start, "start names this step, but there is none."))
    _refuse(errors)
    _refuse(_check_graph(definition, index))
    return _with_configs(definition, configs)


def _parse(raw: object) -> JourneyDefinition:
    try:
        return JourneyDefinition.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise ValidationFailed(
            INVALID_DEFINITION,
            errors=[{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors],
        ) from None


def _with_configs(
    definition: JourneyDefinition, configs: list[StepConfig | None]
) -> JourneyDefinition:
    """The definition with each config replaced by its validated form, as plain JSON."""
    steps = []
    for step, config in zip(definition.steps, configs, strict=True):
        assert config is not None  # a step without a valid config has been refused
        steps.append(step.model_copy(update={"config": config.model_dump(mode="json")}))
    return definition.model_copy(update={"steps": steps})


def _refuse(errors: list[Error]) -> None:
    if errors:
        raise ValidationFailed(INVALID_DEFINITION, errors=errors)


def _error(position: int, step_id: str, field: list[str | int], text: str, kind: str) -> Error:
    """An error at ``steps[position].<field>`` whose message names the step."""
    return {"loc": ["steps", position, *field], "msg": f"Step {step_id!r}: {text}", "type": kind}


def _start_error(step_id: str, text: str, kind: str = "unknown_step") -> Error:
    return {"loc": ["start"], "msg": f"Step {step_id!r}: {text}", "type": kind}


def _check_step(
    position: int, step: StepDefinition, index: dict[str, int]
) -> tuple[StepConfig | None, list[Error]]:
    """The step's validated config (None if it has none) and what is wrong with the step."""
    errors: list[Error] = []
    if index[step.id] != position:
        errors.append(_error(position, step.id, ["id"], "another step has this id.", "duplicate"))
    for field in EDGES:
        target = getattr(step, field)
        if target is not None and target not in index:
            text = f"{field} names no step {target!r}."
            errors.append(_error(position, step.id, [field], text, "unknown_step"))
    kind = KINDS.get(step.type)
    if kind is None:
        text = f"unknown step type; expected one of: {', '.join(sorted(KINDS))}."
        errors.append(_error(position, step.id, ["type"], text, "unknown_step_type"))
        return None, errors
    config, config_errors = _check_config(position, step, kind)
    errors += config_errors + _check_edges(position, step, kind, config)
    return config, errors


def _check_config(
    position: int, step: StepDefinition, kind: StepKind
) -> tuple[StepConfig | None, list[Error]]:
    """The config validated by the kind's model, its expressions parsed."""
    try:
        config = kind.config.model_validate(step.config)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_context=False, include_input=False)
        return None, [
            _error(position, step.id, ["config", *e["loc"]], e["msg"], e["type"]) for e in details
        ]
    errors: list[Error] = []
    for field in kind.expression_fields:
        text = getattr(config, field)
        if text is None:
            continue
        try:
            parse_expression(text)
        except ExpressionError as exc:
            where = "" if exc.position is None else f" (at position {exc.position})"
            message = f"{field} is not a valid expression: {exc.message}{where}."
            errors.append(_error(position, step.id, ["config", field], message, "expression"))
    return config, errors


def _check_edges(
    position: int, step: StepDefinition, kind: StepKind, config: StepConfig | None
) -> list[Error]:
    """``next`` and ``on_failure`` present exactly where the kind (and its config) need them."""
    errors: list[Error] = []
    if kind.needs_next and step.next is None:
        text = f"a step of type {kind.name!r} needs a next step."
        errors.append(_error(position, step.id, ["next"], text, "missing_edge"))
    if kind.terminal and step.next is not None:
        text = f"a step of type {kind.name!r} ends the journey; it cannot have a next step."
        errors.append(_error(position, step.id, ["next"], text, "unexpected_edge"))
    rule = kind.failure_edge(config) if config is not None else "optional"
    if rule == "required" and step.on_failure is None:
        # A kind that needs no on_failure of itself needs one because of its config.
        needs = f"type {kind.name!r}" if kind.needs_failure else "failure_behavior 'branch'"
        text = f"a step with {needs} needs an on_failure step."
        errors.append(_error(position, step.id, ["on_failure"], text, "missing_edge"))
    if rule == "forbidden" and step.on_failure is not None:
        errors.append(
            _error(position, step.id, ["on_failure"], _no_failure(kind), "unexpected_edge")
        )
    return errors


def _no_failure(kind: StepKind) -> str:
    if kind.terminal:
        return f"a step of type {kind.name!r} ends the journey; it cannot have an on_failure step."
    if kind.may_fail:
        return "failure_behavior 'abort' ends the journey on failure; use 'branch' for on_failure."
    return f"a step of type {kind.name!r} cannot fail; it cannot have an on_failure step."


def _check_graph(definition: JourneyDefinition, index: dict[str, int]) -> list[Error]:
    """Unreachable steps, cycles that never pause, and journeys that can never end."""
    steps = definition.steps
    edges = [
        [(field, index[getattr(step, field)]) for field in EDGES if getattr(step, field)]
        for step in steps
    ]
    reached = _reachable(index[definition.start], edges)
    errors = [
        _error(position, step.id, ["id"], "no path from the start leads here.", "unreachable")
        for position, step in enumerate(steps)
        if position not in reached
    ]
    errors += _server_cycles(steps, edges)
    if not any(KINDS[steps[position].type].terminal for position in reached):
        text = "no complete or reject step can be reached from the start."
        errors.append(_start_error(definition.start, text, "no_terminal"))
    return errors


def _reachable(start: int, edges: list[list[tuple[str, int]]]) -> set[int]:
    seen, queue = {start}, deque([start])
    while queue:
        for _, target in edges[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _server_cycles(steps: list[StepDefinition], edges: list[list[tuple[str, int]]]) -> list[Error]:
    """Cycles made only of server-side steps: the runner would spin on them without pausing.

    A depth-first search over the server-side steps; every edge back into the current path
    closes such a cycle and is reported on the step it leaves.
    """
    server = {i for i, step in enumerate(steps) if not KINDS[step.type].client_facing}
    done: set[int] = set()
    path: list[int] = []
    errors: list[Error] = []

    def visit(position: int) -> None:
        path.append(position)
        targets: dict[int, str] = {}
        for field, target in edges[position]:
            targets.setdefault(target, field)
        for target, field in targets.items():
            if target not in server or target in done:
                continue
            if target in path:
                cycle = [steps[i].id for i in path[path.index(target) :]] + [steps[target].id]
                text = f"the cycle {' -> '.join(cycle)} has no client-facing step to pause on."
                errors.append(_error(position, steps[position].id, [field], text, "server_cycle"))
            else:
                visit(target)
        path.pop()
        done.add(position)

    for position in sorted(server):
        if position not in done:
            visit(position)
    return errors


def _step(
    step_id: str, kind: str, next: str | None = None, on_failure: str | None = None, **config: Any
) -> dict[str, Any]:
    return {"id": step_id, "type": kind, "config": config, "next": next, "on_failure": on_failure}


# Password, then the TOTP challenge (a recovery code as the alternative) for users who have an
# authenticator; else, when the runner seeds vars.enforce from totp.enforce (or an application
# asks for a second factor: vars.require_mfa), first-login enrollment. A journey started for a
# signed-in user (SSO, step-up) skips what the session already proved, unless vars.step_up asks
# for a fresh code (or, for a user without one, OAuth's max_age the password again: the password
# step reads vars.reauthenticate_after). A third-party application then asks the user's consent
# (vars.needs_consent).
BUILTIN_LOGIN: dict[str, Any] = {
    "start": "password",
    "steps": [
        _step("password", "password", "has_totp", "denied"),
        _step(
            "has_totp",
            "condition",
            "send_code",
            "enforce",
            expression="user.has_totp and (vars.step_up or not ('otp' in user.amr "
            "or 'recovery' in user.amr))",
        ),
        _step("send_code", "send_code", "totp"),
        _step("totp", "authenticate_totp", "finish", "recovery", remember_device=True),
        _step("recovery", "recovery_code", "enforce", "denied"),
        _step(
            "enforce",
            "condition",
            "register",
            "finish",
            # An admin's bypass code removed the authenticator: the user enrolls again now.
            expression="not user.has_totp and (vars.enforce or vars.require_mfa "
            "or 'bypass' in user.amr)",
        ),
        _step("register", "register_totp", "confirm_totp"),
        _step("confirm_totp", "authenticate_totp", "recovery_codes", allow_recovery_code=False),
        _step("recovery_codes", "show_recovery_codes", "finish"),
        _step("finish", "condition", "consent", "done", expression="vars.needs_consent"),
        _step("consent", "consent", "done", "denied"),
        _step("done", "complete"),
        _step("denied", "reject"),
    ],
}

# Password, then enrollment: a QR code, the first code, the recovery codes.
BUILTIN_ENROLL: dict[str, Any] = {
    "start": "password",
    "steps": [
        _step("password", "password", "has_totp", "denied"),
        _step("has_totp", "condition", "enrolled", "register", expression="user.has_totp"),
        _step("register", "register_totp", "confirm_totp"),
        _step("confirm_totp", "authenticate_totp", "recovery_codes", allow_recovery_code=False),
        _step("recovery_codes", "show_recovery_codes", "done"),
        _step("done", "complete"),
        _step("enrolled", "reject", code="totp_already_enrolled"),
        _step("denied", "reject"),
    ],
}

# Password, then a current code (or a recovery code) to confirm, then the authenticator goes.
BUILTIN_DISABLE: dict[str, Any] = {
    "start": "password",
    "steps": [
        _step("password", "password", "has_totp", "denied"),
        _step("has_totp", "condition", "totp", "not_enrolled", expression="user.has_totp"),
        _step("totp", "authenticate_totp", "disable", "recovery"),
        _step("recovery", "recovery_code", "disable", "denied"),
        _step("disable", "disable_totp", "done"),
        _step("done", "complete"),
        _step("not_enrolled", "reject", code="totp_not_enrolled"),
        _step("denied", "reject"),
    ],
}

# The settings page's new recovery codes (issue 12.6): a stale session proves a code (or a
# recovery code) first (spec 3b.2); then the new set is shown once, like at enrollment.
BUILTIN_REGENERATE_CODES: dict[str, Any] = {
    "start": "password",
    "steps": [
        _step("password", "password", "has_totp", "denied"),
        _step("has_totp", "condition", "fresh", "not_enrolled", expression="user.has_totp"),
        _step("fresh", "condition", "codes", "totp", expression="user.fresh_factor"),
        _step("totp", "authenticate_totp", "codes", "recovery"),
        _step("recovery", "recovery_code", "codes", "denied"),
        _step("codes", "show_recovery_codes", "done"),
        _step("done", "complete"),
        _step("not_enrolled", "reject", code="totp_not_enrolled"),
        _step("denied", "reject"),
    ],
}

# A new phone (issue 12.3): a fresh second factor, then the new key confirmed by its first
# code before the old one goes, then new recovery codes. Never without a second factor, so
# totp.enforce allows it where it refuses `disable`.
BUILTIN_REPLACE: dict[str, Any] = {
    "start": "password",
    "steps": [
        _step("password", "password", "has_totp", "denied"),
        _step("has_totp", "condition", "fresh", "not_enrolled", expression="user.has_totp"),
        _step("fresh", "condition", "replace", "totp", expression="user.fresh_factor"),
        _step("totp", "authenticate_totp", "replace", "recovery"),
        _step("recovery", "recovery_code", "replace", "denied"),
        _step("replace", "replace_totp", "codes", "denied"),
        _step("codes", "show_recovery_codes", "done"),
        _step("done", "complete"),
        _step("not_enrolled", "reject", code="totp_not_enrolled"),
        _step("denied", "reject"),
    ],
}
