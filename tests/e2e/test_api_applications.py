"""Applications (OAuth clients) through a live server on each engine: CRUD, the secret shown
once, validation, conflicts, isolation, pagination, and per-application authenticators."""

from __future__ import annotations

import hashlib
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.e2e.test_api_errors import assert_problem, enroll, other_client, totp_code
from tests.e2e.test_api_hostile import NASTY
from tests.e2e.test_api_users import oathtool, two_factor, uri_params
from tests.server import Api, Server, new_organization

WEB = {"redirect_uris": ["https://app.example.test/callback"]}
FIELDS = {
    "client_id",
    "name",
    "is_default",
    "redirect_uris",
    "grant_types",
    "secret_required",
    "has_secret",
    "access_token_expiration",
    "token_format",
    "refresh_token",
    "first_party",
    "totp_override",
    "created_at",
    "updated_at",
}


def apps_path(api: Api, client_id: str = "", tail: str = "") -> str:
    return f"/api/v1/org/{api.org}/applications" + (f"/{client_id}" if client_id else "") + tail


def create(api: Api, **body: Any) -> dict[str, Any]:
    response = api.request("POST", apps_path(api), json=body)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


def read(api: Api, client_id: str) -> dict[str, Any]:
    response = api.request("GET", apps_path(api, client_id))
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- create, read, change, delete ------------------------------------------------------------


def test_create_read_update_delete(api: Api) -> None:
    web = f"{api.org}.web"
    created = create(api, client_id=web, name="Web app", **WEB)
    assert set(created) == FIELDS
    assert created == {
        **created,
        "client_id": web,
        "name": "Web app",
        "is_default": False,
        "redirect_uris": ["https://app.example.test/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "secret_required": False,
        "has_secret": False,
        "access_token_expiration": 3600,
        "token_format": "jwt",
        "refresh_token": True,
        "first_party": True,
        "totp_override": None,
        "updated_at": None,
    }
    assert created["created_at"]
    assert read(api, web) == created

    patch = {
        "name": "Web",
        "redirect_uris": ["https://app.example.test/cb", "http://localhost:3000/cb"],
        "access_token_expiration": 600,
        "token_format": "opaque",
        "first_party": False,
        "totp_override": {"algorithm": "SHA256", "digits": 8, "period": 60},
    }
    changed = api.request("PATCH", apps_path(api, web), json=patch)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert {name: body[name] for name in patch} == patch
    assert body["grant_types"] == created["grant_types"]
    assert body["updated_at"] >= body["created_at"]
    assert read(api, web) == body
    assert api.request("PATCH", apps_path(api, web), json={}).json()["name"] == "Web"
    cleared = api.request("PATCH", apps_path(api, web), json={"totp_override": None}).json()
    assert cleared["totp_override"] is None
    assert cleared["name"] == "Web"

    deleted = api.request("DELETE", apps_path(api, web))
    assert deleted.status_code == 204
    assert deleted.content == b""
    for method, tail, json in [
        ("GET", "", None),
        ("PATCH", "", {"name": "again"}),
        ("DELETE", "", None),
        ("POST", "/secret", None),
    ]:
        assert_problem(api.request(method, apps_path(api, web, tail), json=json), 404, "not_found")
    # The client id is free again.
    assert create(api, client_id=web, **WEB)["name"] == web


def test_a_generated_client_id_and_the_default_application(api: Api) -> None:
    generated = create(api, **WEB)
    assert generated["client_id"].startswith("app-")
    assert generated["name"] == generated["client_id"]
    default = read(api, f"{api.org}-production")
    assert default == {
        **default,
        "is_default": True,
        "redirect_uris": [],
        "grant_types": ["authorization_code", "refresh_token"],
        "secret_required": False,
        "has_secret": False,
        "access_token_expiration": 3600,
        "token_format": "jwt",
        "refresh_token": True,
        "first_party": True,
        "totp_override": None,
    }


def test_applications_pagination(api: Api) -> None:
    created = [create(api, client_id=f"{api.org}.app{n}", **WEB)["client_id"] for n in range(4)]
    pages = []
    for page in (1, 2, 3):
        response = api.request("GET", apps_path(api), params={"page": page, "per_page": 2})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["page"], body["per_page"], body["total"]) == (page, 2, 5)
        assert all(set(app) == FIELDS for app in body["data"])
        pages.append([app["client_id"] for app in body["data"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert pages[0][0] == f"{api.org}-production"
    assert sorted(name for page in pages for name in page) == sorted(
        [*created, f"{api.org}-production"]
    )
    beyond = api.request("GET", apps_path(api), params={"page": 4, "per_page": 2}).json()
    assert beyond == {"data": [], "page": 4, "per_page": 2, "total": 5}
    default = api.request("GET", apps_path(api)).json()
    assert (default["page"], default["per_page"], default["total"]) == (1, 20, 5)
    for params in ({"page": "0"}, {"per_page": "101"}, {"per_page": "x"}):
        response = api.request("GET", apps_path(api), params=params)
        assert_problem(response, 422, "validation_error")


# -- the secret ------------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_rotation_replaces_it(api: Api) -> None:
    backend, spa = f"{api.org}.backend", f"{api.org}.spa"
    created = create(api, client_id=backend, secret_required=True, **WEB)
    secret = created["client_secret"]
    assert secret.startswith("tsc_")
    assert len(secret) == len("tsc_") + 43
    assert created["has_secret"] is True
    assert set(created) == FIELDS | {"client_secret"}

    rotated = api.request("POST", apps_path(api, backend, "/secret"))
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new_secret = rotated.json()["client_secret"]
    assert new_secret.startswith("tsc_")
    assert new_secret != secret
    assert rotated.json()["has_secret"] is True

    # Never again: not in a read, a list, a change or the audit trail, nor as a hash.
    seen = [
        api.request("GET", apps_path(api, backend)),
        api.request("GET", apps_path(api)),
        api.request("PATCH", apps_path(api, backend), json={"name": "Backend"}),
        api.request("GET", f"/api/v1/org/{api.org}/audit-events"),
    ]
    for response in seen:
        assert response.status_code == 200, response.text
        assert "client_secret" not in response.text
        for shown_once in (secret, new_secret):
            assert shown_once not in response.text
            assert hashlib.sha256(shown_once.encode()).hexdigest() not in response.text
    events = seen[-1].json()["data"]
    assert [(e["action"], e["details"]) for e in events[:4]] == [
        ("application.update", {"client_id": backend, "fields": ["name"]}),
        ("application.secret.rotate", {"client_id": backend}),
        ("application.create", {"client_id": backend}),
        ("organization.create", None),
    ]

    # A public client has no secret: none in the create answer, none to rotate.
    public = create(api, client_id=spa, **WEB)
    assert "client_secret" not in public
    problem = assert_problem(api.request("POST", apps_path(api, spa, "/secret")), 409, "conflict")
    assert "public" in problem["detail"]
    # Turning secret_required off forgets the secret.
    forgot = api.request("PATCH", apps_path(api, backend), json={"secret_required": False})
    assert (forgot.json()["secret_required"], forgot.json()["has_secret"]) == (False, False)


# -- validation, conflicts -------------------------------------------------------------------

INVALID_CREATE: list[tuple[dict[str, Any], str]] = [
    ({"client_id": "ab", **WEB}, "client_id"),
    ({"client_id": "Has-Upper", **WEB}, "client_id"),
    ({"client_id": "x-production", **WEB}, "client_id"),
    ({"client_id": 7, **WEB}, "client_id"),
    ({"redirect_uris": ["http://app.example.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example.test/cb#frag"]}, "redirect_uris"),
    ({"redirect_uris": ["https://*.example.test/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["/relative/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://e.test/" + "a" * 2000]}, "redirect_uris"),
    ({"redirect_uris": [f"https://e{n}.example.test/" for n in range(21)]}, "redirect_uris"),
    ({}, "redirect_uris"),
    ({"grant_types": [], **WEB}, "grant_types"),
    ({"grant_types": ["implicit"], **WEB}, "grant_types"),
    ({"grant_types": ["client_credentials"]}, "grant_types"),
    ({"grant_types": ["refresh_token"], **WEB}, "grant_types"),
    ({"refresh_token": False, **WEB}, "grant_types"),
    ({"token_format": "paseto", **WEB}, "token_format"),
    ({"access_token_expiration": 59, **WEB}, "access_token_expiration"),
    ({"access_token_expiration": 86_401, **WEB}, "access_token_expiration"),
    ({"access_token_expiration": "3600", **WEB}, "access_token_expiration"),
    ({"secret_required": "true", **WEB}, "secret_required"),
    ({"totp_override": {"digits": 9}, **WEB}, "totp_override"),
    ({"totp_override": {"algorithm": "MD5"}, **WEB}, "totp_override"),
    ({"is_default": True, **WEB}, "is_default"),
    ({"client_secret": "tsc_mine", **WEB}, "client_secret"),
    ({"name": "", **WEB}, "name"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_CREATE)
def test_invalid_applications_are_refused(api: Api, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(
        api.request("POST", apps_path(api), json=body), 422, "validation_error"
    )
    assert field in [error["loc"][1] for error in problem["errors"]], problem
    assert all(error["loc"][0] == "body" for error in problem["errors"]), problem
    assert api.request("GET", apps_path(api)).json()["total"] == 1


def test_invalid_changes_are_refused_and_change_nothing(api: Api) -> None:
    web = f"{api.org}.web"
    before = create(api, client_id=web, **WEB)
    for patch, field in [
        ({"client_id": "renamed"}, "client_id"),
        ({"name": None}, "name"),
        ({"redirect_uris": None}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": ["http://example.test/"]}, "redirect_uris"),
        ({"grant_types": ["client_credentials"]}, "grant_types"),
        ({"refresh_token": False}, "grant_types"),
        ({"token_format": "JWT"}, "token_format"),
        ({"totp_override": {"period": 5}}, "totp_override"),
    ]:
        response = api.request("PATCH", apps_path(api, web), json=patch)
        problem = assert_problem(response, 422, "validation_error")
        assert field in [error["loc"][1] for error in problem["errors"]], (patch, problem)
    assert_problem(
        api.request("PATCH", apps_path(api, web), content=b"[1", headers={"content-type": "x"}),
        422,
        "validation_error",
    )
    assert read(api, web) == before


def test_conflicts(server: Server, api: Api) -> None:
    web = f"{api.org}.web"
    create(api, client_id=web, **WEB)
    other, _ = new_organization(server)
    with closing(other):
        for client in (api, other):
            response = client.request("POST", apps_path(client), json={"client_id": web, **WEB})
            problem = assert_problem(response, 409, "conflict")
            assert problem["errors"] == [
                {"loc": ["body", "client_id"], "msg": "already taken", "type": "unique"}
            ]
    default = f"{api.org}-production"
    problem = assert_problem(api.request("DELETE", apps_path(api, default)), 409, "conflict")
    assert problem["detail"] == "The default application cannot be deleted."
    assert read(api, default)["is_default"] is True


# -- isolation -------------------------------------------------------------------------------


def test_isolation_between_organizations_and_environments(server: Server) -> None:
    mine, created = new_organization(server)
    theirs, _ = new_organization(server)
    sandbox = other_client(mine, created["api_keys"]["sandbox"])
    mine_id = f"{mine.org}.mine"
    with closing(mine), closing(theirs), closing(sandbox):
        create(mine, client_id=mine_id, secret_required=True, **WEB)
        # Another organization's key: forbidden on every route.
        for method, tail, body in [
            ("GET", "", None),
            ("POST", "", {"client_id": f"{theirs.org}.intruder", **WEB}),
            ("GET", f"/{mine_id}", None),
            ("PATCH", f"/{mine_id}", {"name": "pwned"}),
            ("DELETE", f"/{mine_id}", None),
            ("POST", f"/{mine_id}/secret", None),
        ]:
            response = theirs.request(
                method, f"/api/v1/org/{mine.org}/applications{tail}", json=body
            )
            assert_problem(response, 403, "forbidden")
        # The sandbox key of the same organization does not see the production application.
        for method, tail, body in [
            ("GET", f"/{mine_id}", None),
            ("PATCH", f"/{mine_id}", {"name": "pwned"}),
            ("DELETE", f"/{mine_id}", None),
            ("POST", f"/{mine_id}/secret", None),
            ("DELETE", f"/{mine.org}-production", None),
        ]:
            response = sandbox.request(method, apps_path(sandbox, tail.lstrip("/")), json=body)
            assert_problem(response, 404, "not_found")
        listed = sandbox.request("GET", apps_path(sandbox)).json()
        assert [app["client_id"] for app in listed["data"]] == [f"{mine.org}-sandbox"]
        # Without a key: unauthorized.
        with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
            assert_problem(anonymous.get(apps_path(mine)), 401, "unauthorized")
            assert_problem(anonymous.get(apps_path(mine, mine_id)), 401, "unauthorized")
        # The server-admin key picks the environment.
        with closing(Api(server.base_url, server.admin_key, mine.org)) as admin:
            in_sandbox = admin.request("GET", apps_path(admin), params={"env": "sandbox"}).json()
            assert in_sandbox["total"] == 1
            assert read(admin, mine_id)["name"] == mine_id
        still = read(mine, mine_id)
        assert (still["name"], still["has_secret"]) == (mine_id, True)


# -- per-application authenticators ----------------------------------------------------------

SHA256_8_60 = ("--totp=sha256", "-d", "8", "--time-step-size=60s")


def test_one_authenticator_per_application_with_its_parameters(api: Api) -> None:
    mobile_id = f"{api.org}.mobile"
    override = {"algorithm": "SHA256", "digits": 8, "period": 60}
    create(api, client_id=mobile_id, totp_override=override, **WEB)
    mobile = {"application": mobile_id}
    user, default_registration, _ = enroll(api)
    assert uri_params(default_registration["uri"])["digits"] == "6"

    registration = api.register(user["id"], **mobile)
    params = uri_params(registration["uri"])
    assert (params["algorithm"], params["digits"], params["period"]) == ("SHA256", "8", "60")
    assert registration["id"] != default_registration["id"]
    code = oathtool(registration["secret"], *SHA256_8_60)
    assert len(code) == 8
    confirmed = api.confirm(user["id"], code, **mobile)
    assert confirmed.status_code == 200, confirmed.text
    following = oathtool(registration["secret"], *SHA256_8_60, "-N", "+60 seconds")
    assert api.verify(user["id"], following, **mobile).json() == {"valid": True}
    # Each authenticator answers only for its application.
    assert_problem(api.verify(user["id"], following), 400, "invalid_code")
    assert api.verify(user["id"], totp_code(default_registration, 1)).json() == {"valid": True}
    # At most one per (user, application): the active one must be disabled first.
    assert_problem(
        api.request("POST", api.user_path(user["id"], "/totp"), params=mobile),
        409,
        "totp_already_enrolled",
    )
    assert two_factor(api, user["id"], **mobile)["totp_id"] == registration["id"]
    assert two_factor(api, user["id"])["totp_id"] == default_registration["id"]

    # The override applies to new enrollments: an authenticator keeps its parameters.
    api.request("PATCH", apps_path(api, mobile_id), json={"totp_override": None})
    newcomer = api.register(api.create_user()["id"], **mobile)
    assert uri_params(newcomer["uri"])["digits"] == "6"
    assert two_factor(api, user["id"], **mobile)["enabled"] is True


def test_deleting_an_application_removes_its_authenticators(api: Api) -> None:
    kiosk_id = f"{api.org}.kiosk"
    created = create(api, client_id=kiosk_id, totp_override={"digits": 8}, **WEB)
    assert created["totp_override"] == {"algorithm": None, "digits": 8, "period": None}
    assert read(api, kiosk_id) == created
    kiosk = {"application": kiosk_id}
    user, default_registration, _ = enroll(api)
    registration = api.register(user["id"], **kiosk)
    assert api.confirm(user["id"], totp_code(registration), **kiosk).status_code == 200
    assert two_factor(api, user["id"], **kiosk)["enabled"] is True

    assert api.request("DELETE", apps_path(api, kiosk_id)).status_code == 204

    # Gone with its application; a new application of the same client id starts empty.
    assert_problem(api.request("GET", api.user_path(user["id"]), params=kiosk), 404, "not_found")
    assert_problem(api.verify(user["id"], totp_code(registration, 1), **kiosk), 404, "not_found")
    create(api, client_id=kiosk_id, **WEB)
    assert two_factor(api, user["id"], **kiosk) == {
        "enabled": False,
        "totp_id": None,
        "status": None,
        "enrolled_at": None,
        "recovery_codes_remaining": 0,
        "drift_s": 0,
    }
    assert_problem(
        api.verify(user["id"], totp_code(registration, 1), **kiosk), 404, "totp_not_enrolled"
    )
    # The default application's authenticator is untouched.
    kept = two_factor(api, user["id"])
    assert (kept["enabled"], kept["totp_id"], kept["recovery_codes_remaining"]) == (
        True,
        default_registration["id"],
        5,
    )
    assert api.verify(user["id"], totp_code(default_registration, 1)).json() == {"valid": True}


def test_the_routes_are_described(api: Api) -> None:
    paths = api.request("GET", "/openapi.json").json()["paths"]
    assert set(paths["/api/v1/org/{org}/applications"]) == {"get", "post"}
    assert set(paths["/api/v1/org/{org}/applications/{client_id}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/org/{org}/applications/{client_id}/secret"]) == {"post"}


# -- hostile input ---------------------------------------------------------------------------


def test_hostile_input_gets_a_4xx_never_a_5xx(api: Api) -> None:
    web = f"{api.org}.web"
    create(api, client_id=web, **WEB)
    cases: list[tuple[str, str, dict[str, Any]]] = []
    for nasty in NASTY:
        for body in [
            {"client_id": nasty, **WEB},
            {"name": nasty, **WEB},
            {"redirect_uris": [nasty]},
            {"redirect_uris": [f"https://app.example.test/{nasty}"]},
            {"grant_types": [nasty], **WEB},
            {"token_format": nasty, **WEB},
            {"totp_override": {"algorithm": nasty}, **WEB},
        ]:
            cases.append(("POST", apps_path(api), {"json": body}))
            patch = {k: v for k, v in body.items() if k != "client_id"} or {"client_id": nasty}
            cases.append(("PATCH", apps_path(api, web), {"json": patch}))
    for tail in ("%00", "a%00b", "x" * 65, "%F0%9F%98%80", "..", "a%2Fb", "%20"):
        for method in ("GET", "PATCH", "DELETE"):
            cases.append((method, f"{apps_path(api)}/{tail}", {"json": {}}))
        cases.append(("POST", f"{apps_path(api)}/{tail}/secret", {}))
    for raw in [b"{bad json", b"", b"[]", b"null", b'{"name": NaN}', b"\xff\xfe"]:
        headers = {"content-type": "application/json"}
        cases.append(("POST", apps_path(api), {"content": raw, "headers": headers}))
        cases.append(("PATCH", apps_path(api, web), {"content": raw, "headers": headers}))
    failures = []
    for method, path, kwargs in cases:
        response = api.request(method, path, **kwargs)
        if response.status_code >= 500 or (
            response.status_code >= 400
            and not response.headers["content-type"].startswith("application/problem+json")
        ):
            failures.append(f"{method} {path} {kwargs}: {response.status_code} {response.text}")
    assert not failures, "\n".join(failures)
