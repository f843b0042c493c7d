"""Journey definitions over HTTP: built-ins readable, PUT validates and versions (issue 3, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_api_errors import assert_problem
from tests.server import Api

MINIMAL: dict[str, Any] = {
    "start": "ask",
    "steps": [
        {"id": "ask", "type": "password", "next": "done", "on_failure": "no"},
        {"id": "done", "type": "complete"},
        {"id": "no", "type": "reject"},
    ],
}


def path(api: Api, name: str) -> str:
    return f"/api/v1/org/{api.org}/journeys/{name}"


@pytest.mark.parametrize("name", ["login", "enroll", "disable"])
def test_builtin_journeys_are_readable_as_version_0(api: Api, name: str) -> None:
    response = api.request("GET", path(api, name))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["version"], body["builtin"]) == (name, 0, True)
    assert {step["id"] for step in body["definition"]["steps"]} >= {body["definition"]["start"]}


def test_publishing_adds_versions_and_overrides_the_builtin(api: Api) -> None:
    first = api.request("PUT", path(api, "login"), json=MINIMAL)
    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.json()["builtin"]) == (1, False)
    # Defaults of each step's config come back explicit.
    assert first.json()["definition"]["steps"][0]["config"] == {"max_attempts": 5}
    second = api.request("PUT", path(api, "login"), json=MINIMAL)
    assert second.json()["version"] == 2
    shown = api.request("GET", path(api, "login")).json()
    assert shown["version"] == 2
    assert shown["definition"]["start"] == "ask"
    assert_problem(api.request("GET", path(api, "no-such-journey")), 404, "not_found")


@pytest.mark.parametrize(
    ("definition", "step_id"),
    [
        ({**MINIMAL, "steps": [*MINIMAL["steps"], {"id": "x", "type": "teleport"}]}, "x"),
        (
            {
                "start": "ask",
                "steps": [
                    {
                        "id": "ask",
                        "type": "register_totp",
                        "config": {"label": "__import__('os')"},
                        "next": "done",
                    },
                    {"id": "done", "type": "complete"},
                ],
            },
            "ask",
        ),
        (
            {
                **MINIMAL,
                "steps": [{**MINIMAL["steps"][0], "next": "nowhere"}, *MINIMAL["steps"][1:]],
            },
            "ask",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_the_step(
    api: Api, definition: dict[str, Any], step_id: str
) -> None:
    response = api.request(
        "PUT", path(api, "custom"), json=definition, headers={"Accept-Language": "fr"}
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["detail"] == "La définition du parcours n'est pas valide."
    assert any(f"'{step_id}'" in error["msg"] for error in problem["errors"]), problem
    assert_problem(api.request("GET", path(api, "custom")), 404, "not_found")


def test_journey_names_and_bodies_are_validated(api: Api) -> None:
    assert_problem(api.request("PUT", path(api, "Bad Name"), json=MINIMAL), 422, "validation_error")
    for body in [[], "x", {"start": "a"}, {"start": "a", "steps": []}]:
        assert_problem(api.request("PUT", path(api, "custom"), json=body), 422, "validation_error")
