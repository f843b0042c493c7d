"""One identifier names one account: a username never contains ``@`` (the password step also
takes emails, so ``victim@acme.test`` as someone's username would name two accounts); and no
text a tenant chooses becomes a Prometheus label value (issue 9, item 10)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.e2e.test_api_errors import assert_problem
from tests.server import Api, Server, new_organization
from tests.services.support import ACTOR, new_environment, new_user
from twostep.client import JourneyClient, Rejection
from twostep.errors import ValidationFailed
from twostep.services.accounts import create_user, update_user
from twostep.services.runtime import Runtime

AT_NAMES = ["victim@acme.test", "ann@", "@ann", "a@b"]


def refused_naming_username(response: httpx.Response) -> None:
    body = assert_problem(response, 422, "validation_error")
    assert [error["loc"][-1] for error in body["errors"]] == ["username"], body


@pytest.mark.parametrize("username", AT_NAMES)
def test_the_api_refuses_a_username_with_an_at(api: Api, username: str) -> None:
    victim = api.create_user(email="victim@acme.test")
    created = api.request("POST", f"/api/v1/org/{api.org}/users", json={"username": username})
    refused_naming_username(created)
    changed = api.request("PATCH", api.user_path(victim["id"]), json={"username": username})
    refused_naming_username(changed)
    listed = api.request("GET", f"/api/v1/org/{api.org}/users").json()
    assert [(u["id"], u["username"]) for u in listed["data"]] == [(victim["id"], None)]


async def test_the_service_refuses_a_username_with_an_at(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    user_id = await new_user(runtime, env, "ann@acme.test")
    with pytest.raises(ValidationFailed) as created:
        await create_user(runtime, ACTOR, env, {"username": "ann@acme.test"})
    with pytest.raises(ValidationFailed) as changed:
        await update_user(runtime, ACTOR, env, user_id, {"username": "x@acme.test"})
    for refused in (created, changed):
        assert [error["loc"] for error in refused.value.errors] == [["username"]]


def test_the_cli_refuses_a_username_with_an_at(sqlite_server: Server) -> None:
    api = new_organization(sqlite_server)[0]
    assert api.org is not None
    result = sqlite_server.cli(
        "user", "create", "--org", api.org, "--username", "victim@acme.test", check=False
    )
    assert result.returncode == 2, result
    assert "username" in result.stderr
    assert "Traceback" not in result.stderr
    assert api.request("GET", f"/api/v1/org/{api.org}/users").json()["total"] == 0
    api.close()


def test_a_custom_journey_name_never_becomes_a_metric_label(api: Api) -> None:
    name = f"tenant-{secrets.token_hex(6)}"
    definition = {"start": "no", "steps": [{"id": "no", "type": "reject"}]}
    published = api.request("PUT", f"/api/v1/org/{api.org}/journeys/{name}", json=definition)
    assert published.status_code == 200, published.text
    with JourneyClient(api.base_url, client_id=f"{api.org}-production") as client:
        assert isinstance(client.start(name), Rejection)
    metrics = httpx.get(f"{api.base_url}/metrics").text
    assert name not in metrics
    assert 'twostep_journey_ends_total{journey="custom",outcome="rejected"}' in metrics
