"""API keys with a life cycle (spec 3b.7): created with a name and shown once, listed without
the secret, revoked at once on the node that revoked and within 5 s on every other node; a
changed TWOSTEP_ADMIN_API_KEY retires the previous one."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_admin_console import csrf_of, signed_in
from tests.e2e.test_api_errors import assert_problem
from tests.pg import PostgresServer
from tests.server import Api, Server, new_organization, running_server
from twostep.crypto import hash_api_key

LIST_FIELDS = {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"}


def keys_path(api: Api, tail: str = "") -> str:
    return f"/api/v1/org/{api.org}/api-keys{tail}"


def create_key(api: Api, name: str, **params: str) -> dict[str, Any]:
    created = api.request("POST", keys_path(api), json={"name": name}, params=params)
    assert created.status_code == 201, created.text
    assert "no-store" in created.headers["cache-control"]
    body = dict(created.json())
    assert set(body) == LIST_FIELDS | {"key"}, body
    return body


def listed(api: Api, **params: str) -> dict[str, dict[str, Any]]:
    response = api.request("GET", keys_path(api), params=params)
    assert response.status_code == 200, response.text
    return {key["id"]: key for key in response.json()["data"]}


def works(base_url: str, key: str, org: str) -> int:
    return httpx.get(
        f"{base_url}/api/v1/org/{org}/users", headers={"Authorization": f"Bearer {key}"}
    ).status_code


def test_a_key_is_shown_once_listed_without_its_secret_and_revoked_at_once(api: Api) -> None:
    created = create_key(api, "billing backend")
    secret = created["key"]
    assert secret.startswith("ts_prod_")
    assert secret.startswith(created["prefix"])
    assert 6 <= len(created["prefix"]) <= len(secret) // 3
    assert created["name"] == "billing backend"
    assert created["revoked_at"] is None

    assert works(api.base_url, secret, api.org or "") == 200
    listing = api.request("GET", keys_path(api))
    assert secret not in listing.text
    assert hash_api_key(secret) not in listing.text
    shown = listed(api)[created["id"]]
    assert set(shown) == LIST_FIELDS
    assert shown["last_used_at"] is not None  # it was just used
    # The key the organization was created with is listed too.
    assert len(listed(api)) == 2

    revoked = api.request("DELETE", keys_path(api, f"/{created['id']}"))
    assert revoked.status_code == 204, revoked.text
    # At once on this node, though the key was in its principal cache a moment ago.
    assert works(api.base_url, secret, api.org or "") == 401
    assert listed(api)[created["id"]]["revoked_at"] is not None
    assert api.request("DELETE", keys_path(api, f"/{created['id']}")).status_code == 204

    events = api.request("GET", f"/api/v1/org/{api.org}/audit-events", params={"limit": 20}).json()[
        "data"
    ]
    actions = [event["action"] for event in events]
    assert "api_key.create" in actions
    assert "api_key.revoke" in actions


def test_a_key_may_revoke_itself(api: Api) -> None:
    created = create_key(api, "self")
    with closing(Api(api.base_url, created["key"], api.org)) as own:
        assert own.request("DELETE", keys_path(own, f"/{created['id']}")).status_code == 204
        assert_problem(own.request("GET", keys_path(own)), 401, "unauthorized")


def test_keys_of_another_environment_or_organization_are_not_found(
    api: Api, server: Server
) -> None:
    other, body = new_organization(server)
    with closing(other):
        foreign = create_key(other, "foreign")
        assert_problem(api.request("DELETE", keys_path(api, f"/{foreign['id']}")), 404, "not_found")
        assert_problem(
            api.request("DELETE", keys_path(api, f"/{secrets.token_hex(8)}")), 404, "not_found"
        )
        with closing(Api(server.base_url, body["api_keys"]["sandbox"], other.org)) as sandbox:
            assert foreign["id"] not in listed(sandbox)
            assert_problem(
                sandbox.request("DELETE", keys_path(sandbox, f"/{foreign['id']}")),
                404,
                "not_found",
            )
        assert works(server.base_url, foreign["key"], other.org or "") == 200

    # A server-admin key manages an environment's keys with ?env=.
    with closing(Api(server.base_url, server.admin_key, api.org)) as admin:
        made = create_key(admin, "by the admin", env="sandbox")
        assert made["key"].startswith("ts_sandbox_")
        assert made["id"] in listed(admin, env="sandbox")
        assert made["id"] not in listed(admin)
        assert (
            admin.request(
                "DELETE", keys_path(admin, f"/{made['id']}"), params={"env": "sandbox"}
            ).status_code
            == 204
        )


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": "a\x00b"}])
def test_a_key_needs_a_printable_name(api: Api, body: dict[str, Any]) -> None:
    assert_problem(api.request("POST", keys_path(api), json=body), 422, "validation_error")


def test_the_cli_lists_creates_and_revokes(api: Api, server: Server) -> None:
    org = api.org or ""
    made = server.cli("apikey", "create", "--org", org, "--env", "production", "--label", "cron")
    key = made.stdout.strip()
    assert key.startswith("ts_prod_")
    assert works(server.base_url, key, org) == 200

    shown = server.cli("apikey", "list", "--org", org).stdout
    assert "cron" in shown
    assert key not in shown
    key_id = next(k["id"] for k in listed(api).values() if k["name"] == "cron")
    assert key_id in shown

    done = server.cli("apikey", "revoke", "--org", org, key_id)
    assert key_id in done.stdout
    # The CLI is another process: the server's cache keeps the key for at most 5 s.
    deadline = time.monotonic() + 6
    while works(server.base_url, key, org) != 401:
        assert time.monotonic() < deadline, "the revoked key still works after 6 s"
        time.sleep(0.25)
    assert "revoked" in server.cli("apikey", "list", "--org", org).stdout
    unknown = server.cli("apikey", "revoke", "--org", org, "no-such-key", check=False)
    assert unknown.returncode != 0


def test_the_console_lists_and_revokes_keys(api: Api, server: Server) -> None:
    extra = create_key(api, "console victim")
    with httpx.Client(base_url=server.base_url, timeout=30) as console:
        signed_in(console, api)
        page = console.get("/admin/api-keys")
        assert page.status_code == 200, page.text
        assert "console victim" in page.text
        assert extra["prefix"] in page.text
        assert extra["key"] not in page.text
        forged = console.post(f"/admin/api-keys/{extra['id']}/revoke", data={"csrf": "0" * 64})
        assert forged.status_code == 403
        assert works(server.base_url, extra["key"], api.org or "") == 200
        done = console.post(f"/admin/api-keys/{extra['id']}/revoke", data={"csrf": csrf_of(page)})
        assert done.status_code == 303, done.text
        assert works(server.base_url, extra["key"], api.org or "") == 401
        assert listed(api)[extra["id"]]["revoked_at"] is not None


# -- two nodes, one PostgreSQL -----------------------------------------------------------------


@pytest.fixture(scope="module")
def two_nodes(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[tuple[Server, Server]]:
    root = tmp_path_factory.mktemp("key-nodes")
    url = postgres.new_database()
    secrets_file = str(root / "shared-secrets.json")
    with running_server(root / "a", url, TWOSTEP_SECRETS_FILE=secrets_file) as a:
        env_b = {**a.env, "TWOSTEP_DATA_DIR": str(root / "b")}
        with running_server(root / "b", url, env=env_b) as b:
            yield a, b


def test_a_revoked_key_fails_on_every_node_within_5_seconds(
    two_nodes: tuple[Server, Server],
) -> None:
    a, b = two_nodes
    api, _ = new_organization(a)
    with closing(api):
        created = create_key(api, "two nodes")
        org = api.org or ""
        # Node b has the key in its cache now.
        assert works(b.base_url, created["key"], org) == 200
        assert api.request("DELETE", keys_path(api, f"/{created['id']}")).status_code == 204
        revoked_at = time.monotonic()
        assert works(a.base_url, created["key"], org) == 401
        while works(b.base_url, created["key"], org) != 401:
            assert time.monotonic() - revoked_at < 5.5, "node b still takes the revoked key"
            time.sleep(0.1)


# -- TWOSTEP_ADMIN_API_KEY ---------------------------------------------------------------------


def test_a_changed_admin_key_retires_the_previous_one(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as first:
        old_key, env = first.admin_key, dict(first.env)
        assert works_as_admin(first.base_url, old_key) == 201
    new_key = f"ts_admin_test_{secrets.token_urlsafe(16)}"
    env["TWOSTEP_ADMIN_API_KEY"] = new_key
    with running_server(tmp_path / "data", env=env) as second:
        assert works_as_admin(second.base_url, new_key) == 201
        assert works_as_admin(second.base_url, old_key) == 401
    # A retired key never comes back, even configured again (and the other retires in turn).
    env["TWOSTEP_ADMIN_API_KEY"] = old_key
    with running_server(tmp_path / "data", env=env) as third:
        assert works_as_admin(third.base_url, new_key) == 401
        assert works_as_admin(third.base_url, old_key) == 401


def works_as_admin(base_url: str, key: str) -> int:
    domain = f"org-{secrets.token_hex(4)}"
    return httpx.post(
        f"{base_url}/api/v1/organizations",
        json={"name": domain, "domain": domain},
        headers={"Authorization": f"Bearer {key}"},
    ).status_code
