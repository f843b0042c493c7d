"""Journey definitions: the model, every refusal naming its step, the built-ins, random graphs."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.errors import ValidationFailed
from twostep.journeys.definition import (
    BUILTIN_DISABLE,
    BUILTIN_ENROLL,
    BUILTIN_LOGIN,
    BUILTIN_REGENERATE_CODES,
    BUILTIN_REPLACE,
    JourneyDefinition,
    validate_definition,
)
from twostep.journeys.expressions import parse_expression
from twostep.journeys.steps import KINDS


def step(
    step_id: str, kind: str, next: str | None = None, on_failure: str | None = None, **config: Any
) -> dict[str, Any]:
    return {"id": step_id, "type": kind, "config": config, "next": next, "on_failure": on_failure}


FULL: dict[str, Any] = {
    "start": "password",
    "steps": [
        step("password", "password", "label", "denied", max_attempts=3),
        step("label", "set_variable", "register", name="label", value="'Work: ' + user.email"),
        step(
            "register",
            "register_totp",
            "codes",
            "failed",
            user_auth_state="not_authenticated",
            user_identifier="input.username",
            label="vars.label",
            error_output_variable="register_error",
            failure_behavior="branch",
        ),
        step("codes", "show_recovery_codes", "done"),
        step("failed", "condition", "done", "denied", expression="vars.register_error == null"),
        step("done", "complete"),
        step("denied", "reject", code="enrollment_failed", detail="Ask your administrator."),
    ],
}

# Small and valid: every refusal below is one change to it.
BASE: dict[str, Any] = {
    "start": "pw",
    "steps": [
        step("pw", "password", "check"),
        step("check", "condition", "send", "done", expression="user.has_totp"),
        step("send", "send_code", "totp"),
        step("totp", "authenticate_totp", "done"),
        step("done", "complete"),
    ],
}


def variant(
    start: str | None = None, append: tuple[dict[str, Any], ...] = (), **changes: dict[str, Any]
) -> dict[str, Any]:
    """BASE with some steps changed (by id), steps appended, or another start."""
    definition = copy.deepcopy(BASE)
    for item in definition["steps"]:
        item.update(changes.get(item["id"], {}))
    definition["steps"] += list(append)
    if start is not None:
        definition["start"] = start
    return definition


def refusal(raw: object) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as info:
        validate_definition(raw)
    assert info.value.status == 422
    assert info.value.msgid == "The journey definition is not valid."
    assert info.value.errors
    return info.value.errors


def test_base_is_valid() -> None:
    assert isinstance(validate_definition(BASE), JourneyDefinition)


def test_full_definition_round_trips_with_explicit_defaults() -> None:
    raw = copy.deepcopy(FULL)
    validated = validate_definition(raw)
    assert raw == FULL  # the input is left alone
    dumped = validated.model_dump(mode="json")
    configs = {item["id"]: item["config"] for item in dumped["steps"]}
    assert configs["password"] == {"max_attempts": 3}
    assert configs["register"] == FULL["steps"][2]["config"]
    assert configs["codes"] == configs["done"] == {}
    assert [item["id"] for item in dumped["steps"]] == [item["id"] for item in FULL["steps"]]
    assert validate_definition(dumped) == validated


def test_defaults_are_filled_in() -> None:
    validated = validate_definition(BASE)
    configs = {item.id: item.config for item in validated.steps}
    assert configs["pw"] == {"max_attempts": 5}
    assert configs["totp"] == {"allow_recovery_code": True, "remember_device": False}
    register = validate_definition(variant(totp={"type": "register_totp"}))
    assert register.steps[3].config == {
        "user_auth_state": "authenticated",
        "user_identifier": None,
        "label": None,
        "error_output_variable": None,
        "failure_behavior": None,
    }


REFUSALS = [
    pytest.param(
        variant(append=(step("done", "complete"),)),
        ["steps", 5, "id"],
        "done",
        "duplicate",
        id="duplicate id",
    ),
    pytest.param(
        variant(totp={"type": "sms"}),
        ["steps", 3, "type"],
        "totp",
        "unknown_step_type",
        id="unknown type",
    ),
    pytest.param(
        variant(pw={"config": {"max_attempts": 0}}),
        ["steps", 0, "config", "max_attempts"],
        "pw",
        "greater_than_equal",
        id="config out of range",
    ),
    pytest.param(
        variant(pw={"config": {"max_attempts": "5"}}),
        ["steps", 0, "config", "max_attempts"],
        "pw",
        "int_type",
        id="config not strict",
    ),
    pytest.param(
        variant(totp={"config": {"bogus": 1}}),
        ["steps", 3, "config", "bogus"],
        "totp",
        "extra_forbidden",
        id="config unknown key",
    ),
    pytest.param(
        variant(check={"config": {}}),
        ["steps", 1, "config", "expression"],
        "check",
        "missing",
        id="config missing",
    ),
    pytest.param(
        variant(check={"config": {"expression": "user.has_totp =="}}),
        ["steps", 1, "config", "expression"],
        "check",
        "expression",
        id="bad expression",
    ),
    pytest.param(
        variant(totp={"type": "register_totp", "config": {"user_identifier": "user.__class__"}}),
        ["steps", 3, "config", "user_identifier"],
        "totp",
        "expression",
        id="bad expression in user_identifier",
    ),
    pytest.param(
        variant(totp={"type": "set_variable", "config": {"name": "x", "value": "1 +"}}),
        ["steps", 3, "config", "value"],
        "totp",
        "expression",
        id="bad expression in set_variable",
    ),
    pytest.param(
        variant(totp={"type": "set_variable", "config": {"name": "a.b", "value": "1"}}),
        ["steps", 3, "config", "name"],
        "totp",
        "string_pattern_mismatch",
        id="set_variable name not an identifier",
    ),
    pytest.param(
        variant(start="nope"), ["start"], "nope", "unknown_step", id="start names no step"
    ),
    pytest.param(
        variant(pw={"next": "ghost"}),
        ["steps", 0, "next"],
        "pw",
        "unknown_step",
        id="dangling next",
    ),
    pytest.param(
        variant(totp={"on_failure": "ghost"}),
        ["steps", 3, "on_failure"],
        "totp",
        "unknown_step",
        id="dangling on_failure",
    ),
    pytest.param(
        variant(totp={"next": None}),
        ["steps", 3, "next"],
        "totp",
        "missing_edge",
        id="missing next",
    ),
    pytest.param(
        variant(check={"on_failure": None}),
        ["steps", 1, "on_failure"],
        "check",
        "missing_edge",
        id="condition without on_failure",
    ),
    pytest.param(
        variant(totp={"type": "register_totp", "config": {"failure_behavior": "branch"}}),
        ["steps", 3, "on_failure"],
        "totp",
        "missing_edge",
        id="register_totp branch without on_failure",
    ),
    pytest.param(
        variant(
            totp={
                "type": "register_totp",
                "config": {"failure_behavior": "abort"},
                "on_failure": "done",
            }
        ),
        ["steps", 3, "on_failure"],
        "totp",
        "unexpected_edge",
        id="register_totp abort with on_failure",
    ),
    pytest.param(
        variant(done={"next": "pw"}),
        ["steps", 4, "next"],
        "done",
        "unexpected_edge",
        id="next on complete",
    ),
    pytest.param(
        variant(done={"type": "reject", "on_failure": "pw"}),
        ["steps", 4, "on_failure"],
        "done",
        "unexpected_edge",
        id="on_failure on reject",
    ),
    pytest.param(
        variant(send={"on_failure": "done"}),
        ["steps", 2, "on_failure"],
        "send",
        "unexpected_edge",
        id="on_failure on a step that cannot fail",
    ),
    pytest.param(
        variant(append=(step("orphan", "complete"),)),
        ["steps", 5, "id"],
        "orphan",
        "unreachable",
        id="unreachable",
    ),
    pytest.param(
        variant(send={"next": "check"}),
        ["steps", 2, "next"],
        "send",
        "server_cycle",
        id="cycle of server steps",
    ),
    pytest.param(
        variant(check={"on_failure": "check"}),
        ["steps", 1, "on_failure"],
        "check",
        "server_cycle",
        id="condition looping on itself",
    ),
    pytest.param(
        {"start": "pw", "steps": [step("pw", "password", "pw")]},
        ["start"],
        "pw",
        "no_terminal",
        id="no terminal",
    ),
]


@pytest.mark.parametrize(("raw", "loc", "step_id", "error_type"), REFUSALS)
def test_refusal_names_the_step(
    raw: dict[str, Any], loc: list[str | int], step_id: str, error_type: str
) -> None:
    errors = refusal(raw)
    found = [(error["type"], error["msg"]) for error in errors if error["loc"] == loc]
    assert any(
        kind == error_type and msg.startswith(f"Step {step_id!r}:") for kind, msg in found
    ), errors


def test_a_cycle_through_a_client_facing_step_is_allowed() -> None:
    # The password step pauses, so looping back to it cannot spin on the server.
    validate_definition(variant(check={"on_failure": "pw"}))


@pytest.mark.parametrize(
    "label",
    [
        "__import__('os')",
        "__import__('os').system('id')",
        "user.__class__",
        "open('/etc/passwd')",
        "lambda: 1",
    ],
)
def test_hostile_label_is_refused_with_the_step_named(label: str) -> None:
    raw = variant(totp={"type": "register_totp", "config": {"label": label}})
    errors = refusal(raw)
    assert [error["loc"] for error in errors] == [["steps", 3, "config", "label"]]
    assert errors[0]["msg"].startswith("Step 'totp': label is not a valid expression: ")
    assert errors[0]["type"] == "expression"


@pytest.mark.parametrize(
    ("raw", "loc", "error_type"),
    [
        pytest.param([], [], "model_type", id="not an object"),
        pytest.param({"steps": BASE["steps"]}, ["start"], "missing", id="no start"),
        pytest.param({**BASE, "steps": []}, ["steps"], "too_short", id="no steps"),
        pytest.param({**BASE, "version": 2}, ["version"], "extra_forbidden", id="unknown key"),
        pytest.param(
            variant(pw={"id": "has space"}),
            ["steps", 0, "id"],
            "string_pattern_mismatch",
            id="bad id",
        ),
        pytest.param(
            variant(pw={"config": "SECRET-VALUE"}),
            ["steps", 0, "config"],
            "dict_type",
            id="config not object",
        ),
        pytest.param(
            variant(pw={"nxt": "check"}),
            ["steps", 0, "nxt"],
            "extra_forbidden",
            id="unknown step key",
        ),
    ],
)
def test_malformed_json_is_refused_without_echoing_values(
    raw: object, loc: list[str | int], error_type: str
) -> None:
    errors = refusal(raw)
    assert {"loc": loc, "type": error_type} in [
        {"loc": e["loc"], "type": e["type"]} for e in errors
    ]
    for error in errors:
        assert set(error) == {"loc", "msg", "type"}
        assert "SECRET-VALUE" not in error["msg"]
        assert "has space" not in error["msg"]


def test_too_many_steps_are_refused() -> None:
    steps = [step(f"s{i}", "complete") for i in range(101)]
    assert ["steps"] in [error["loc"] for error in refusal({"start": "s0", "steps": steps})]


def test_catalogue_answers_the_spec_step_ids() -> None:
    client_facing = {name: kind.step_id for name, kind in KINDS.items() if kind.client_facing}
    assert client_facing == {
        "password": "Password",
        "register_totp": "TotpRegistration",
        "authenticate_totp": "TotpAuthentication",
        "recovery_code": "RecoveryCode",
        "consent": "Consent",
        "show_recovery_codes": "RecoveryCodes",
        "replace_totp": "TotpReplacement",  # a new phone (issue 12.3), beyond the spec's six
    }
    assert {name for name, kind in KINDS.items() if kind.terminal} == {"complete", "reject"}


@pytest.mark.parametrize("kind", KINDS.values(), ids=list(KINDS))
def test_expression_fields_are_config_fields(kind: Any) -> None:
    assert set(kind.expression_fields) <= set(kind.config.model_fields)


@pytest.mark.parametrize(
    "builtin",
    [BUILTIN_LOGIN, BUILTIN_ENROLL, BUILTIN_DISABLE, BUILTIN_REGENERATE_CODES, BUILTIN_REPLACE],
    ids=["login", "enroll", "disable", "regenerate_codes", "replace"],
)
def test_builtin_journeys_validate(builtin: dict[str, Any]) -> None:
    before = copy.deepcopy(builtin)
    validated = validate_definition(builtin)
    assert builtin == before
    assert validate_definition(validated.model_dump(mode="json")) == validated


def test_builtin_login_covers_the_spec_path() -> None:
    types = {item["type"] for item in BUILTIN_LOGIN["steps"]}
    assert {
        "password",
        "authenticate_totp",
        "recovery_code",
        "register_totp",
        "show_recovery_codes",
    } <= types
    names = set().union(
        *(
            parse_expression(item["config"]["expression"]).names()
            for item in BUILTIN_LOGIN["steps"]
            if "expression" in item["config"]
        )
    )
    assert {"user.has_totp", "user.amr", "vars.enforce", "vars.step_up"} <= names
    assert {"vars.require_mfa", "vars.needs_consent"} <= names


# A valid config per type, and some that are wrong for any type.
VALID_CONFIGS: dict[str, dict[str, Any]] = {
    "condition": {"expression": "vars.x == 1"},
    "set_variable": {"name": "x", "value": "input.y"},
    "register_totp": {"failure_behavior": "branch", "label": "user.email"},
}
BAD_CONFIGS: list[dict[str, Any]] = [
    {"max_attempts": 0},
    {"label": "__import__('os')"},
    {"expression": "vars.x =="},
    {"bogus": True},
]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Random step lists over a few ids with random edges; mostly, not always, shaped right."""
    unique = draw(st.sampled_from([True, True, True, False]))
    ids = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=unique))
    targets = st.sampled_from([*ids, *ids, *ids, *ids, None, "zz"])
    steps = []
    for step_id in ids:
        name = draw(st.sampled_from([*KINDS, *KINDS, "bogus"]))
        kind = KINDS.get(name)
        if kind is None or draw(st.integers(0, 9)) == 0:  # sloppy: anything goes
            config = draw(st.sampled_from(BAD_CONFIGS))
            next_step, failure = draw(targets), draw(targets)
        else:
            config = VALID_CONFIGS.get(name, {})
            next_step = None if kind.terminal else draw(targets)
            failure = draw(targets) if kind.may_fail else None
        steps.append(step(step_id, name, next_step, failure, **config))
    return {"start": draw(st.sampled_from([*ids, *ids, *ids, "zz"])), "steps": steps}


def outcome(raw: object) -> JourneyDefinition | list[dict[str, Any]]:
    """The validated definition, or the errors it was refused with."""
    try:
        return validate_definition(raw)
    except ValidationFailed as exc:
        return exc.errors


@settings(max_examples=400, deadline=None)
@given(graphs())
def test_random_graphs_validate_or_are_refused(raw: dict[str, Any]) -> None:
    result = outcome(raw)
    if isinstance(result, JourneyDefinition):
        assert result.start in {item.id for item in result.steps}
        assert validate_definition(result.model_dump(mode="json")) == result
    else:
        assert result
        for error in result:
            assert set(error) == {"loc", "msg", "type"}
            assert isinstance(error["loc"], list)
