"""Every problem code of spec section 5 the management API can answer, through a live server,
with its status, ``code``, problem+json content type and a ``detail``; and the isolation of
organizations and environments."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pyotp
import pytest

from tests.server import Api, Server, new_organization, running_server

PROBLEM_JSON = "application/problem+json"


# -- helpers shared by the other test_api_* modules ------------------------------------------


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` and the stable ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert isinstance(body.get("detail"), str), body
    assert body["detail"].strip(), body
    return body


def totp_code(registration: dict[str, Any], steps: int = 0) -> str:
    """The code of the registration's key URI ``steps`` periods from now (pyotp as the phone)."""
    key = pyotp.parse_uri(registration["uri"])
    assert isinstance(key, pyotp.TOTP)
    return key.at(time.time() + steps * key.interval)


def wrong_code(registration: dict[str, Any]) -> str:
    """A code of the right shape that no step near now produces."""
    key = pyotp.parse_uri(registration["uri"])
    near = {totp_code(registration, steps) for steps in range(-3, 4)}
    return next(c for c in ("0" * key.digits, "1" * key.digits, "2" * key.digits) if c not in near)


def enroll(api: Api, **user_fields: Any) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A user with an active authenticator: (user, registration, recovery codes)."""
    user = api.create_user(**user_fields)
    registration = api.register(user["id"])
    confirmed = api.confirm(user["id"], totp_code(registration))
    assert confirmed.status_code == 200, confirmed.text
    return user, registration, confirmed.json()["recovery_codes"]


def other_client(api: Api, key: str, org: str | None = None) -> Api:
    return Api(api.base_url, key, org or api.org)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def org(server: Server) -> Iterator[tuple[Api, dict[str, Any]]]:
    """A fresh organization: a client on its production key and the creation answer."""
    client, created = new_organization(server)
    yield client, created
    client.close()


@pytest.fixture
def admin(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=30,
    ) as client:
        yield client


# -- validation_error, unauthorized, forbidden, not_found ------------------------------------

VALIDATION_CASES = [
    ("POST", "/users", {}, None),
    ("POST", "/users", {"email": "not-an-email"}, None),
    ("POST", "/users", {"email": "a@b.test", "status": "root"}, None),
    ("POST", "/users", {"email": "a@b.test", "password": "short"}, None),
    ("POST", "/users/{user}/totp/verify", {"code": 123456}, None),
    ("POST", "/users/{user}/totp/verify", {}, None),
    ("POST", "/users/{user}/totp/confirm", {"code": ""}, None),
    ("POST", "/users/{user}/recovery-codes/verify", {"code": None}, None),
    ("GET", "/users", None, {"page": "0"}),
    ("GET", "/users", None, {"per_page": "101"}),
    ("GET", "/users", None, {"env": "staging"}),
    ("PATCH", "/auth-config", {"totp": {"digits": 9}}, None),
    ("PATCH", "/users/{user}", {"status": "gone"}, None),
]


@pytest.mark.parametrize(("method", "tail", "body", "params"), VALIDATION_CASES)
def test_validation_error(
    api: Api, method: str, tail: str, body: Any, params: dict[str, str] | None
) -> None:
    user = api.create_user()
    path = f"/api/v1/org/{api.org}" + tail.format(user=user["id"])
    response = api.request(method, path, json=body, params=params)
    problem = assert_problem(response, 422, "validation_error")
    assert problem["instance"] == path


UNAUTHORIZED_HEADERS = [
    {},
    {"Authorization": "Bearer ts_prod_not-a-real-key"},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Token abc"},
    {"Authorization": "Bearerabc"},
    {"Authorization": "abc"},
]


@pytest.mark.parametrize("headers", UNAUTHORIZED_HEADERS)
def test_unauthorized_without_a_valid_key(
    server: Server, org: tuple[Api, dict[str, Any]], headers: dict[str, str]
) -> None:
    client, _ = org
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as http:
        for method, path, body in [
            ("GET", f"/api/v1/org/{client.org}/users", None),
            ("POST", f"/api/v1/org/{client.org}/users", {"email": "x@y.test"}),
            ("GET", f"/api/v1/org/{client.org}/auth-config", None),
            ("GET", f"/api/v1/organizations/{client.org}", None),
            ("POST", "/api/v1/organizations", {"name": "X", "domain": "x-unauth"}),
        ]:
            assert_problem(http.request(method, path, json=body), 401, "unauthorized")
    assert client.request("GET", f"/api/v1/org/{client.org}/users").json()["total"] == 0


def test_forbidden_across_organizations_and_environments(server: Server) -> None:
    mine, created = new_organization(server)
    theirs, _ = new_organization(server)
    sandbox = other_client(mine, created["api_keys"]["sandbox"])
    with closing(mine), closing(theirs), closing(sandbox):
        victim = theirs.create_user()
        for path in [
            f"/api/v1/org/{theirs.org}/users",
            f"/api/v1/org/{theirs.org}/users/{victim['id']}",
            f"/api/v1/org/{theirs.org}/auth-config",
            f"/api/v1/organizations/{theirs.org}",
        ]:
            assert_problem(mine.request("GET", path), 403, "forbidden")
        for method, tail, body in [
            ("POST", "/users", {"email": "intruder@x.test"}),
            ("PATCH", f"/users/{victim['id']}", {"status": "disabled"}),
            ("DELETE", f"/users/{victim['id']}", None),
            ("POST", f"/users/{victim['id']}/totp", None),
            ("PATCH", "/auth-config", {"totp": {"active": False}}),
        ]:
            response = mine.request(method, f"/api/v1/org/{theirs.org}{tail}", json=body)
            assert_problem(response, 403, "forbidden")
        # An environment key may not pick the other environment of its own organization.
        assert_problem(
            sandbox.request("GET", f"/api/v1/org/{mine.org}/users", params={"env": "production"}),
            403,
            "forbidden",
        )
        assert_problem(
            mine.request("GET", f"/api/v1/org/{mine.org}/users", params={"env": "sandbox"}),
            403,
            "forbidden",
        )
        # Only a server-admin key creates organizations.
        for key_client in (mine, sandbox):
            response = key_client.request(
                "POST", "/api/v1/organizations", json={"name": "N", "domain": "n-" + mine.org}
            )
            assert_problem(response, 403, "forbidden")
        # Nothing changed on the victim's side.
        shown = theirs.request("GET", theirs.user_path(victim["id"])).json()
        assert shown["status"] == "active"
        assert shown["two_factor"]["totp_id"] is None
        assert theirs.request("GET", f"/api/v1/org/{theirs.org}/users").json()["total"] == 1
        assert theirs.request("GET", f"/api/v1/org/{theirs.org}/auth-config").json()["totp"][
            "active"
        ]


def test_not_found(server: Server, admin: httpx.Client, api: Api) -> None:
    unknown_org = f"nope-{secrets.token_hex(4)}"
    assert_problem(admin.get(f"/api/v1/organizations/{unknown_org}"), 404, "not_found")
    assert_problem(admin.get(f"/api/v1/org/{unknown_org}/users"), 404, "not_found")
    assert_problem(admin.get(f"/api/v1/org/{unknown_org}/auth-config"), 404, "not_found")
    unknown_user = "00000000-0000-0000-0000-000000000000"
    for method, tail, body in [
        ("GET", "", None),
        ("PATCH", "", {"status": "disabled"}),
        ("DELETE", "", None),
        ("POST", "/totp", None),
        ("DELETE", "/totp", {"reason": "test"}),
        ("POST", "/totp/confirm", {"code": "123456"}),
        ("POST", "/totp/verify", {"code": "123456"}),
        ("POST", "/recovery-codes", None),
        ("POST", "/recovery-codes/verify", {"code": "abcd-efgh-jkmn-pqrs"}),
    ]:
        response = api.request(method, api.user_path(unknown_user, tail), json=body)
        assert_problem(response, 404, "not_found")
    user = api.create_user()
    for method, tail in [("GET", ""), ("POST", "/totp"), ("DELETE", "/totp")]:
        response = api.request(
            method,
            api.user_path(user["id"], tail),
            params={"application": "no-such-client", "reason": "test"},
        )
        assert_problem(response, 404, "not_found")
    for tail in ("/totp/confirm", "/totp/verify", "/recovery-codes/verify"):
        response = api.request(
            "POST",
            api.user_path(user["id"], tail),
            json={"code": "123456"},
            params={"application": "no-such-client"},
        )
        assert_problem(response, 404, "not_found")


# -- codes: invalid_code, code_reused, locked_out --------------------------------------------


def test_invalid_code_and_code_reused(api: Api) -> None:
    user = api.create_user()
    registration = api.register(user["id"])
    assert_problem(api.confirm(user["id"], wrong_code(registration)), 400, "invalid_code")
    current = totp_code(registration)
    assert api.confirm(user["id"], current).status_code == 200
    assert_problem(api.verify(user["id"], wrong_code(registration)), 400, "invalid_code")
    # The confirming code's step is spent, and so is every older one.
    assert_problem(api.verify(user["id"], current), 400, "code_reused")
    assert_problem(api.verify(user["id"], totp_code(registration, -1)), 400, "code_reused")
    following = totp_code(registration, 1)
    assert api.verify(user["id"], following).json() == {"valid": True}
    assert_problem(api.verify(user["id"], following), 400, "code_reused")


def test_locked_out_after_five_wrong_codes_even_for_the_right_code(api: Api) -> None:
    user, registration, _ = enroll(api)
    bad = wrong_code(registration)
    for _ in range(5):
        assert_problem(api.verify(user["id"], bad), 400, "invalid_code")
    # Locked: the lock is checked before the code, so even the right code is refused.
    for code in (bad, totp_code(registration, 1)):
        response = api.verify(user["id"], code)
        assert_problem(response, 429, "locked_out")
        assert 0 < int(response.headers["Retry-After"]) <= 30
    # The lock is on this authenticator only: another user of the organization is unaffected.
    other, other_registration, _ = enroll(api)
    assert api.verify(other["id"], totp_code(other_registration, 1)).json() == {"valid": True}


def test_a_recovery_code_lifts_the_lock(api: Api) -> None:
    user, registration, codes = enroll(api)
    bad = wrong_code(registration)
    for _ in range(5):
        api.verify(user["id"], bad)
    assert_problem(api.verify(user["id"], bad), 429, "locked_out")
    used = api.request(
        "POST", api.user_path(user["id"], "/recovery-codes/verify"), json={"code": codes[0]}
    )
    assert used.status_code == 200, used.text
    assert api.verify(user["id"], totp_code(registration, 1)).json() == {"valid": True}


# -- operation_disabled ----------------------------------------------------------------------

TOTP_OPERATIONS = [
    ("POST", "/totp", None),
    ("POST", "/totp/confirm", {"code": "123456"}),
    ("POST", "/totp/verify", {"code": "123456"}),
    ("POST", "/recovery-codes", None),
    ("POST", "/recovery-codes/verify", {"code": "abcd-efgh-jkmn-pqrs"}),
]


def assert_every_totp_operation_disabled(
    api: Api, user_id: str, registration: dict[str, Any], codes: list[str]
) -> None:
    for method, tail, body in TOTP_OPERATIONS:
        response = api.request(method, api.user_path(user_id, tail), json=body)
        assert_problem(response, 403, "operation_disabled")
    # Right codes are refused too: nothing is evaluated while TOTP is off.
    assert_problem(api.verify(user_id, totp_code(registration, 1)), 403, "operation_disabled")
    recovery = api.request(
        "POST", api.user_path(user_id, "/recovery-codes/verify"), json={"code": codes[0]}
    )
    assert_problem(recovery, 403, "operation_disabled")


def test_operation_disabled_per_environment(api: Api) -> None:
    user, registration, codes = enroll(api)
    fresh = api.create_user()
    response = api.patch_config({"totp": {"active": False}})
    assert response.status_code == 200, response.text
    assert response.json()["totp"]["active"] is False
    assert_every_totp_operation_disabled(api, user["id"], registration, codes)
    assert_problem(
        api.request("POST", api.user_path(fresh["id"], "/totp")), 403, "operation_disabled"
    )
    # Switched back on, the authenticator works as before: nothing was spent meanwhile.
    assert api.patch_config({"totp": {"active": None}}).json()["totp"]["active"] is True
    assert api.verify(user["id"], totp_code(registration, 1)).json() == {"valid": True}
    assert api.request("GET", api.user_path(user["id"])).json()["two_factor"][
        "recovery_codes_remaining"
    ] == len(codes)


def test_operation_disabled_by_the_server_switch(
    sqlite_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An operator restarts with TWOSTEP_TOTP_ENABLED=false over the same database."""
    client, _ = new_organization(sqlite_server)
    with closing(client):
        user, registration, codes = enroll(client)
        fresh = client.create_user()
        env = {**sqlite_server.env, "TWOSTEP_TOTP_ENABLED": "false"}
        with (
            running_server(tmp_path_factory.mktemp("totp-off"), env=env) as switched_off,
            closing(Api(switched_off.base_url, client.key, client.org)) as off,
        ):
            assert_every_totp_operation_disabled(off, user["id"], registration, codes)
            assert_problem(
                off.request("POST", off.user_path(fresh["id"], "/totp")),
                403,
                "operation_disabled",
            )
            # The rest of the API still works.
            assert off.request("GET", off.user_path(user["id"])).status_code == 200
        assert client.verify(user["id"], totp_code(registration, 1)).json() == {"valid": True}


# -- enrollment state: totp_not_enrolled, totp_already_enrolled --------------------------------


def test_totp_not_enrolled(api: Api) -> None:
    user = api.create_user()
    for method, tail, body in [
        ("POST", "/totp/verify", {"code": "123456"}),
        ("POST", "/totp/confirm", {"code": "123456"}),
        ("DELETE", "/totp", {"reason": "test"}),
        ("POST", "/recovery-codes", None),
        ("POST", "/recovery-codes/verify", {"code": "abcd-efgh-jkmn-pqrs"}),
    ]:
        response = api.request(method, api.user_path(user["id"], tail), json=body)
        assert_problem(response, 404, "totp_not_enrolled")
    # A pending authenticator never satisfies a verification, even with its right code.
    registration = api.register(user["id"])
    assert_problem(api.verify(user["id"], totp_code(registration)), 404, "totp_not_enrolled")
    assert_problem(
        api.request("POST", api.user_path(user["id"], "/recovery-codes")),
        404,
        "totp_not_enrolled",
    )
    # ... and that attempt did not spend the code: it still confirms.
    assert api.confirm(user["id"], totp_code(registration)).status_code == 200


def test_totp_already_enrolled(api: Api) -> None:
    user, registration, _ = enroll(api)
    response = api.request("POST", api.user_path(user["id"], "/totp"))
    assert_problem(response, 409, "totp_already_enrolled")
    assert_problem(
        api.confirm(user["id"], totp_code(registration, 1)), 409, "totp_already_enrolled"
    )
    # The active authenticator is untouched.
    shown = api.request("GET", api.user_path(user["id"])).json()["two_factor"]
    assert shown["totp_id"] == registration["id"]
    assert shown["enabled"] is True
    assert api.verify(user["id"], totp_code(registration, 1)).json() == {"valid": True}


# -- recovery codes --------------------------------------------------------------------------


def use_recovery(api: Api, user_id: str, code: str) -> httpx.Response:
    return api.request(
        "POST", api.user_path(user_id, "/recovery-codes/verify"), json={"code": code}
    )


def test_recovery_code_invalid(api: Api) -> None:
    assert api.patch_config({"recovery_codes": {"once_per_hours": 0}}).status_code == 200
    user, _, codes = enroll(api)
    for bad in ["abcd-efgh-jkmn-pqrs", "not a code", "x" * 64, codes[0][:-1]]:
        assert_problem(use_recovery(api, user["id"], bad), 400, "recovery_code_invalid")
    first = use_recovery(api, user["id"], codes[0])
    assert first.status_code == 200, first.text
    assert first.json() == {"valid": True, "recovery_codes_remaining": len(codes) - 1}
    # Single use.
    assert_problem(use_recovery(api, user["id"], codes[0]), 400, "recovery_code_invalid")
    # Another user's code is no use here.
    other, _, other_codes = enroll(api)
    assert_problem(use_recovery(api, user["id"], other_codes[0]), 400, "recovery_code_invalid")
    assert use_recovery(api, other["id"], other_codes[0]).status_code == 200


def test_recovery_codes_exhausted(api: Api) -> None:
    patched = api.patch_config({"recovery_codes": {"count": 1, "once_per_hours": 0}})
    assert patched.status_code == 200, patched.text
    user, _, codes = enroll(api)
    assert len(codes) == 1
    assert use_recovery(api, user["id"], codes[0]).json()["recovery_codes_remaining"] == 0
    assert_problem(use_recovery(api, user["id"], codes[0]), 409, "recovery_codes_exhausted")
    assert_problem(
        use_recovery(api, user["id"], "abcd-efgh-jkmn-pqrs"), 409, "recovery_codes_exhausted"
    )
    # Regenerating gives the user a way back.
    fresh = api.request("POST", api.user_path(user["id"], "/recovery-codes"))
    assert fresh.status_code == 200, fresh.text
    assert use_recovery(api, user["id"], fresh.json()["recovery_codes"][0]).status_code == 200


def test_recovery_code_rate_limited_by_the_24_hour_rule(api: Api) -> None:
    user, _, codes = enroll(api)
    assert use_recovery(api, user["id"], codes[0]).status_code == 200
    second = use_recovery(api, user["id"], codes[1])
    assert_problem(second, 429, "recovery_code_rate_limited")
    assert int(second.headers["Retry-After"]) == 24 * 3600
    # The refused code was not spent.
    remaining = api.request("GET", api.user_path(user["id"])).json()["two_factor"]
    assert remaining["recovery_codes_remaining"] == len(codes) - 1


# -- conflict --------------------------------------------------------------------------------


def test_conflict_on_a_taken_email_username_or_domain(api: Api, admin: httpx.Client) -> None:
    users = f"/api/v1/org/{api.org}/users"
    first = api.create_user(email="taken@example.test", username="taken")
    second = api.create_user(email="free@example.test", username="free")
    for body in [
        {"email": "taken@example.test"},
        {"email": "TAKEN@Example.Test"},
        {"username": "taken"},
        {"email": "other@example.test", "username": "taken"},
    ]:
        assert_problem(api.request("POST", users, json=body), 409, "conflict")
    for body in [{"email": "Taken@example.test"}, {"username": "taken"}]:
        response = api.request("PATCH", api.user_path(second["id"]), json=body)
        assert_problem(response, 409, "conflict")
    response = admin.post("/api/v1/organizations", json={"name": "Again", "domain": api.org})
    assert_problem(response, 409, "conflict")
    listed = api.request("GET", users).json()
    assert listed["total"] == 2
    assert {u["email"] for u in listed["data"]} == {first["email"], second["email"]}


# -- sandbox and production ------------------------------------------------------------------


def test_sandbox_and_production_are_isolated(
    server: Server, org: tuple[Api, dict[str, Any]], admin: httpx.Client
) -> None:
    production, created = org
    with closing(other_client(production, created["api_keys"]["sandbox"])) as sandbox:
        in_sandbox = sandbox.create_user(email="same@example.test")
        in_production = production.create_user(email="same@example.test")
        assert in_sandbox["id"] != in_production["id"]
        for client, mine, theirs in [
            (sandbox, in_sandbox, in_production),
            (production, in_production, in_sandbox),
        ]:
            listed = client.request("GET", f"/api/v1/org/{client.org}/users").json()
            assert [u["id"] for u in listed["data"]] == [mine["id"]]
            assert listed["total"] == 1
            for method in ("GET", "DELETE"):
                response = client.request(method, client.user_path(theirs["id"]))
                assert_problem(response, 404, "not_found")
            response = client.request("POST", client.user_path(theirs["id"], "/totp"))
            assert_problem(response, 404, "not_found")
        # Each environment has its own auth config.
        assert sandbox.patch_config({"totp": {"digits": 8}}).status_code == 200
        assert (
            production.request("GET", f"/api/v1/org/{production.org}/auth-config").json()["totp"][
                "digits"
            ]
            == 6
        )
        # The server-admin key reaches both: production by default, sandbox with ?env=.
        users = f"/api/v1/org/{production.org}/users"
        default = admin.get(users).json()["data"]
        assert [u["id"] for u in default] == [in_production["id"]]
        chosen = admin.get(users, params={"env": "sandbox"}).json()["data"]
        assert [u["id"] for u in chosen] == [in_sandbox["id"]]
        assert (
            admin.get(f"{users}/{in_sandbox['id']}", params={"env": "sandbox"}).status_code == 200
        )
        assert_problem(admin.get(f"{users}/{in_sandbox['id']}"), 404, "not_found")
        config = admin.get(f"/api/v1/org/{production.org}/auth-config", params={"env": "sandbox"})
        assert config.json()["totp"]["digits"] == 8
        # Both environment keys read their own organization.
        for client in (sandbox, production):
            read = client.request("GET", f"/api/v1/organizations/{client.org}")
            assert read.status_code == 200
            assert read.json()["domain"] == client.org
            assert "api_keys" not in read.json()
