"""Schemathesis against a live server on each engine: whatever a client sends that the
document allows, the answer is no 5xx, has a documented status and content type, and matches
the documented schema.

Every operation under ``/api/v1`` is called (the management API with an organization's
production key, and the journey and session API beside it), first with data the document
allows, then with data it does not (which must be a documented 4xx problem).

It runs stateless: one organization, one user and the organization's key; path parameters
other than ``org`` and ``user_id`` are generated, so most of them name nothing (a documented
404 problem), and a generated journey session or session token is never a live one. Left
out: OAuth, ops and well-known routes, which are not the management API (OAuth reads forms
by hand and answers redirects; ``test_oauth.py`` drives it with a real client).
"""

from __future__ import annotations

import time
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server import Server, new_organization

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 8
# Both engines together stay well under two minutes: stop generating when one is over this.
BUDGET_S = 45.0


def test_the_management_api_answers_as_documented(server: Server) -> None:
    api, _ = new_organization(server)
    try:
        user = api.create_user()
        document = api.request("GET", "/openapi.json").json()
    finally:
        api.close()
    schema = schemathesis.openapi.from_dict(document)
    schema = schema.include(path_regex=r"^/api/v1/")
    fixed = {"org": api.org, "user_id": user["id"]}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so that the fixed user is there for the rest.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) >= 30
    deadline = time.monotonic() + BUDGET_S
    with requests.Session() as session:
        session.headers.update({"Authorization": f"Bearer {api.key}"})
        for operation in operations:
            if time.monotonic() > deadline:
                break
            params = {k: v for k, v in fixed.items() if "{" + k + "}" in operation.path}
            # What the document allows, then what it does not (which must be a 4xx problem).
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(mode, path_parameters=params)
                _fuzz(strategy, server.base_url, session)


def _fuzz(strategy: st.SearchStrategy[Any], base_url: str, session: requests.Session) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, session=session, checks=CHECKS, timeout=30)

    run()
