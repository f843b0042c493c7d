"""The OpenAPI document as the server really answers: every error is a ``Problem``.

FastAPI documents validation errors as its own ``HTTPValidationError``; ``web/problems.py``
answers ``application/problem+json`` instead. One pass over the generated document puts the
``Problem`` schema (with the enum of every ``code``) on every operation, so a route added
later is described like the others without anyone remembering to.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from twostep.web.problems import PROBLEM_JSON, problem_codes

__all__ = ["install_openapi", "problem_schemas"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_EXAMPLE = {
    "type": "https://twostep.dev/problems/not_found",
    "title": "Not found",
    "status": 404,
    "code": "not_found",
    "detail": "Not found.",
    "instance": "/api/v1/org/example.com/users/0c2f6d1e",
    "request_id": "5b0f5c0a9e8d4c7f",
}
# FastAPI's own error schemas, which no answer of this server has the shape of.
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def problem_schemas() -> dict[str, Any]:
    """The ``Problem`` (RFC 9457 plus ``code``, ``request_id``, ``errors``) JSON schemas."""
    error = {
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "description": "where the fault is: body, query or path, then the field",
            },
            "msg": {"type": "string"},
            "type": {"type": "string", "description": "a stable name of the rule broken"},
        },
    }
    problem = {
        "type": "object",
        "required": ["type", "title", "status", "code", "detail", "instance"],
        "properties": {
            "type": {"type": "string", "description": "https://twostep.dev/problems/<code>"},
            "title": {"type": "string", "description": "short, in English"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {"type": "string", "enum": problem_codes(), "description": "stable"},
            "detail": {"type": "string", "description": "translated by Accept-Language"},
            "instance": {"type": "string", "description": "the path asked for"},
            "request_id": {"type": "string", "description": "the X-Request-Id of the answer"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ProblemError"},
                "description": "each field at fault, for validation_error",
            },
        },
        "examples": [_EXAMPLE],
    }
    return {"Problem": problem, "ProblemError": error}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}


def _describe_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" in responses:
        responses["422"] = _problem_response("Validation error: `errors` names each field")
    if operation.get("security"):
        responses.setdefault("401", _problem_response("A valid key or token is required"))
        responses.setdefault("403", _problem_response("This key may not do this"))
    responses.setdefault("default", _problem_response("Any other error, as problem+json"))


def _with_problems(document: dict[str, Any]) -> None:
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERRORS:
        schemas.pop(name, None)
    schemas.update(problem_schemas())
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            _describe_errors(operation)


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json`` and ``/docs``) describe problems."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        # FastAPI keeps the document and makes it anew when routes change: describe it each
        # time (a few dozen operations; the pass changes nothing the second time).
        schema = generate()
        _with_problems(schema)
        return schema

    app.openapi = document  # type: ignore[method-assign]
