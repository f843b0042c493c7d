"""The OpenAPI document a live server publishes is one client generators accept: deliberate
unique operationIds, a bearer scheme where a key is needed, problem+json errors with their
``code`` enum, an example for every request body; and a real generator takes it."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.server import Server
from twostep.web.app import create_app
from twostep.web.problems import problem_codes

Operation = tuple[str, str, dict[str, Any]]
CAMEL = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
# What FastAPI's generated names look like: the path and the method glued to the function.
GENERATED = re.compile(r"(?i)api_?v1|_(get|post|put|patch|delete)$|__")
PUBLIC_PREFIXES = (
    "/api/v1/journeys",
    "/oauth/",
    "/.well-known/",
    "/healthz",
    "/readyz",
    "/metrics",
)


@pytest.fixture(scope="module")
def document(sqlite_server: Server) -> dict[str, Any]:
    with httpx.Client(base_url=sqlite_server.base_url, timeout=30) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_route_declares_its_operation_id() -> None:
    # A route without operation_id= would get FastAPI's generated name: refuse it here, so
    # that every new route is named on purpose.
    contexts = iter_route_contexts(create_app().routes)
    routes = [c.original_route for c in contexts if isinstance(c.original_route, APIRoute)]
    routes = [r for r in routes if r.include_in_schema]
    assert routes
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in routes if r.operation_id is None]
    assert undeclared == []


def test_operation_ids_are_camel_case_unique_and_not_generated(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert [i for i in ids if not CAMEL.match(i) or GENERATED.search(i)] == []
    assert {"createOrganization", "verifyTotpCode", "oauthUserinfo", "oauthUserinfoPost"} <= set(
        ids
    )


def test_the_api_key_is_a_bearer_scheme_on_management_routes_only(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["apiKey"]["description"],
    }
    for method, path, op in operations(document):
        if path.startswith(PUBLIC_PREFIXES):
            assert "security" not in op, (method, path)
        elif path.startswith("/api/v1/sessions"):
            assert op["security"] == [{"sessionToken": []}], (method, path)
        else:
            assert op["security"] == [{"apiKey": []}], (method, path)


def test_errors_are_documented_as_problems_with_every_code(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert problem["properties"]["code"]["enum"] == problem_codes()
    assert {"invalid_code", "code_reused", "locked_out", "validation_error"} <= set(problem_codes())
    ref = {"$ref": "#/components/schemas/Problem"}
    for method, path, op in operations(document):
        responses = op["responses"]
        assert responses["default"]["content"] == {"application/problem+json": {"schema": ref}}
        for status, response in responses.items():
            if status == "422" or (op.get("security") and status in ("401", "403")):
                assert response["content"] == {"application/problem+json": {"schema": ref}}, (
                    method,
                    path,
                    status,
                )


def test_a_validation_error_answer_matches_the_documented_problem(sqlite_server: Server) -> None:
    with httpx.Client(base_url=sqlite_server.base_url, timeout=30) as http:
        response = http.post(
            "/api/v1/organizations",
            json={"name": 7},
            headers={"Authorization": f"Bearer {sqlite_server.admin_key}"},
        )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] in problem_codes()
    assert {"type", "title", "status", "code", "detail", "instance", "errors"} <= set(body)


def _examples(document: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    found: list[Any] = list(media.get("examples", {}).values()) or (
        [media["example"]] if "example" in media else []
    )
    pending = [media.get("schema", {})]
    while pending:
        schema = pending.pop()
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        found.extend(schema.get("examples", []))
        pending.extend(schema.get("anyOf", []))
    return found


def test_every_request_body_has_an_example(document: dict[str, Any]) -> None:
    without = [
        (method, path, media_type)
        for method, path, op in operations(document)
        for media_type, media in op.get("requestBody", {}).get("content", {}).items()
        if not _examples(document, media)
    ]
    assert without == []
    # The OAuth endpoints read their form by hand: it is documented all the same.
    token = document["paths"]["/oauth/token"]["post"]["requestBody"]["content"]
    assert list(token) == ["application/x-www-form-urlencoded"]


def test_a_real_generator_builds_typed_models_from_the_document(
    document: dict[str, Any], tmp_path: Path
) -> None:
    """datamodel-code-generator (openapi-python-client would not install beside our typer)
    turns every schema into pydantic models, which then import and validate a problem."""
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document))
    target = tmp_path / "twostep_models.py"
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("datamodel-codegen")),
            "--input",
            str(source),
            "--input-file-type",
            "openapi",
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--output",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    spec = importlib.util.spec_from_file_location("twostep_models", target)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["twostep_models"] = module  # pydantic resolves the annotations through it
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["twostep_models"]
    namespace = vars(module)
    problem = namespace["Problem"].model_validate(
        document["components"]["schemas"]["Problem"]["examples"][0]
    )
    assert problem.code.value == "not_found"
    for name in ("UserCreate", "OrganizationOut", "StepOut", "ApplicationCreate"):
        assert name in namespace
