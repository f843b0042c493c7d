"""Hostile input never yields a 5xx; secrets never leak into answers or logs; the operations
endpoints answer. Through a live server on each engine."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.e2e.test_api_errors import (
    PROBLEM_JSON,
    assert_problem,
    enroll,
    totp_code,
    wrong_code,
)
from tests.server import Api, Server, new_organization

SPEC_PATHS = {
    "/api/v1/organizations": {"post"},
    "/api/v1/organizations/{org}": {"get"},
    "/api/v1/org/{org}/auth-config": {"get", "patch"},
    "/api/v1/org/{org}/users": {"get", "post"},
    "/api/v1/org/{org}/users/{user_id}": {"get", "patch", "delete"},
    "/api/v1/org/{org}/users/{user_id}/totp": {"post", "delete"},
    "/api/v1/org/{org}/users/{user_id}/totp/confirm": {"post"},
    "/api/v1/org/{org}/users/{user_id}/totp/verify": {"post"},
    "/api/v1/org/{org}/users/{user_id}/recovery-codes": {"post"},
    "/api/v1/org/{org}/users/{user_id}/recovery-codes/verify": {"post"},
}

# Strings with unicode, control characters and markup, tried in every string field.
NASTY = [
    "\x00",
    "a\x00b",
    "\x1b[31mred\x1b[0m",
    "line\r\nInjected: header",
    "\u202eevil",
    "😀",
    "ﷺ" * 200,
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "%00",
    "../../etc/passwd",
    "\ufeff",
    "x" * 10_000,
]


def is_postgres(server: Server) -> bool:
    return server.env.get("TWOSTEP_DATABASE_URL", "").startswith("postgresql")


@pytest.fixture
def target(server: Server) -> Iterator[dict[str, Any]]:
    """An organization with an enrolled user, a pending one, and a stranger in another org."""
    api, created = new_organization(server)
    stranger_api, _ = new_organization(server)
    with closing(api), closing(stranger_api):
        enrolled, registration, codes = enroll(api, email="enrolled@example.test")
        pending = api.create_user(email="pending@example.test")
        api.register(pending["id"])
        stranger = stranger_api.create_user()
        yield {
            "api": api,
            "created": created,
            "enrolled": enrolled,
            "registration": registration,
            "codes": codes,
            "pending": pending,
            "stranger": stranger,
        }


def hostile_requests(t: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) of requests that must each get a 4xx problem."""
    api: Api = t["api"]
    org = api.org
    users = f"/api/v1/org/{org}/users"
    uid, pid = t["enrolled"]["id"], t["pending"]["id"]
    verify = f"{users}/{uid}/totp/verify"
    json_type = {"content-type": "application/json"}
    cases: list[tuple[str, str, dict[str, Any]]] = []
    # Wrong JSON types, bad JSON text, empty bodies, wrong content types, unknown fields.
    for path in (verify, f"{users}/{pid}/totp/confirm", f"{users}/{uid}/recovery-codes/verify"):
        for body in [
            {"code": 123456},
            {"code": None},
            {"code": True},
            {"code": ["1"]},
            {"code": {"a": 1}},
            [],
            "x",
            123456,
            None,
            {},
            {"code": "123456", "extra": 1},
            {"Code": "123456"},
        ]:
            cases.append(("POST", path, {"json": body}))
        for raw in [
            b"{bad json",
            b"",
            b"\xff\xfe\x00",
            b'{"code": "1',
            b'{"code": "123456"}{"code": "654321"}',
            b'{"code": NaN}',
        ]:
            cases.append(("POST", path, {"content": raw, "headers": json_type}))
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/xml",
        "application/json; charset=latin-1",
    ]:
        cases.append(
            ("POST", verify, {"content": b"code=123456", "headers": {"content-type": content_type}})
        )
    cases.append(("POST", verify, {"content": b'{"code": "123456"}'}))
    # Codes that look like codes but are not.
    for code in [
        "",
        " ",
        "1" * 65,
        "12345\x00",
        "١٢٣٤٥٦",
        "１２３４５６",
        "-12345",
        "1e5",
        "0x1e240",
        "999999999",
        "\u0000" * 6,
        "😀" * 6,
    ]:
        cases.append(("POST", verify, {"json": {"code": code}}))
        cases.append(("POST", f"{users}/{pid}/totp/confirm", {"json": {"code": code}}))
    for code in ["", "\x00" * 16, "ａｂｃｄ-ｅｆｇｈ-ｊｋｍｎ-ｐｑｒｓ", "😀" * 16, "-" * 64]:
        cases.append(("POST", f"{users}/{uid}/recovery-codes/verify", {"json": {"code": code}}))
    # Every string field of a user, on create and on update.
    for field in ("email", "username", "phone", "password", "status"):
        for value in NASTY:
            if field == "password" and "\x00" not in value and len(value) <= 1024:
                continue  # any printable password of 8+ characters is a fine password
            cases.append(
                (
                    "POST",
                    users,
                    {
                        "json": {"email": "ok@example.test", field: value}
                        if field in ("password", "status")
                        else {field: value}
                    },
                )
            )
            cases.append(("PATCH", f"{users}/{uid}", {"json": {field: value}}))
    cases.append(("POST", users, {"json": {"email": "a" * 10_000 + "@example.test"}}))
    cases.append(("POST", users, {"json": {"email": "x@example.test", "role": "admin"}}))
    cases.append(("POST", users, {"json": {"email": "x@example.test", "id": "chosen"}}))
    cases.append(("PATCH", f"{users}/{uid}", {"json": {"two_factor": {"enabled": False}}}))
    cases.append(("PATCH", f"{users}/{uid}", {"json": []}))
    # Organizations: every string field.
    for value in NASTY[2:]:
        cases.append(
            (
                "POST",
                "/api/v1/organizations",
                {"json": {"name": "N", "domain": value}, "admin": True},
            )
        )
        cases.append(
            (
                "POST",
                "/api/v1/organizations",
                {
                    "json": {"name": "N", "domain": "ok-dom", "email_domains": [value]},
                    "admin": True,
                },
            )
        )
    cases.append(
        (
            "POST",
            "/api/v1/organizations",
            {"json": {"name": "x" * 10_000, "domain": "ok-dom"}, "admin": True},
        )
    )
    cases.append(
        (
            "POST",
            "/api/v1/organizations",
            {"json": {"name": "N", "domain": "ok-dom", "api_keys": {}}, "admin": True},
        )
    )
    # Auth config strings.
    for value in NASTY:
        cases.append(
            ("PATCH", f"/api/v1/org/{org}/auth-config", {"json": {"totp": {"issuer": value + ":"}}})
        )
        cases.append(
            ("PATCH", f"/api/v1/org/{org}/auth-config", {"json": {"theme": {"logo_url": value}}})
        )
    # Path segments.
    for segment in [
        "..",
        "%2e%2e",
        "x" * 500,
        "%F0%9F%98%80",
        "%ff",
        "%0a",
        "%20",
        "%C0%80",
        "%ed%a0%80",
        "%3Cscript%3E",
        "*",
        "%25",
        t["stranger"]["id"],
    ]:
        for method, tail, kwargs in [
            ("GET", "", {}),
            ("PATCH", "", {"json": {"status": "disabled"}}),
            ("DELETE", "/totp", {"params": {"reason": "test"}}),
            ("POST", "/totp/verify", {"json": {"code": "123456"}}),
        ]:
            cases.append((method, f"{users}/{segment}{tail}", kwargs))
    for segment in ["A", "x" * 64, "-x", "%F0%9F%98%80", "org_under", "%20"]:
        cases.append(("GET", f"/api/v1/org/{segment}/users", {}))
        cases.append(("GET", f"/api/v1/organizations/{segment}", {}))
    # Query strings.
    for params in [
        {"page": "0"},
        {"page": "-1"},
        {"page": str(10**30)},
        {"page": "x"},
        {"page": ""},
        {"page": "1.5"},
        {"per_page": "0"},
        {"per_page": "-5"},
        {"per_page": str(10**20)},
        {"per_page": "1e3"},
        {"per_page": "101"},
        {"page": "1000001"},
        {"env": "sandbox'--"},
        {"env": "😀"},
    ]:
        cases.append(("GET", users, {"params": params}))
    for application in ["x" * 65, "", "😀", "../x", t["stranger"]["id"]]:
        cases.append(
            ("POST", verify, {"json": {"code": "123456"}, "params": {"application": application}})
        )
    # Headers and methods.
    cases.append(("GET", users, {"headers": {"Authorization": b"Bearer \xc3\xa9\xff"}}))
    cases.append(("GET", users, {"headers": {"Authorization": "Bearer " + "k" * 20_000}}))
    cases.append(("GET", users, {"headers": {"Authorization": "Bearer a b c"}}))
    for method in ("PUT", "TRACE"):
        cases.append((method, f"{users}/{uid}", {}))
    return cases


def check_batch(
    server: Server, t: dict[str, Any], cases: list[tuple[str, str, dict[str, Any]]]
) -> list[str]:
    """Send every case; the descriptions of those that did not get a 4xx problem."""
    failures = []
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for method, path, kwargs in cases:
            kwargs = dict(kwargs)
            key = server.admin_key if kwargs.pop("admin", False) else t["api"].key
            headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
            try:
                response = http.request(method, path, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                failures.append(f"{method} {path[:80]} {_short(kwargs)} -> {exc!r}")
                continue
            if not _is_4xx_problem(response):
                failures.append(
                    f"{method} {path[:80]} {_short(kwargs)} -> {response.status_code} "
                    f"{response.text[:120]}"
                )
    return failures


def _is_4xx_problem(response: httpx.Response) -> bool:
    if not 400 <= response.status_code < 500:
        return False
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return False
    code = response.json().get("code")
    return isinstance(code, str) and bool(code)


def _short(kwargs: dict[str, Any]) -> str:
    return repr(kwargs)[:100]


def assert_nothing_half_written(server: Server, t: dict[str, Any]) -> None:
    api: Api = t["api"]
    users = api.request("GET", f"/api/v1/org/{api.org}/users").json()
    assert users["total"] == 2
    shown = {u["email"]: u for u in users["data"]}
    enrolled = shown["enrolled@example.test"]
    assert enrolled["status"] == "active"
    assert enrolled["username"] is None
    assert enrolled["two_factor"]["enabled"] is True
    assert enrolled["two_factor"]["recovery_codes_remaining"] == len(t["codes"])
    assert shown["pending@example.test"]["two_factor"]["totp_id"] is not None
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        orgs = http.get(
            "/api/v1/organizations/ok-dom",
            headers={"Authorization": f"Bearer {server.admin_key}"},
        )
        assert_problem(orgs, 404, "not_found")


def test_hostile_input_gets_a_4xx_problem_never_a_5xx(
    server: Server, target: dict[str, Any]
) -> None:
    cases = hostile_requests(target)
    assert len(cases) > 250
    failures = check_batch(server, target, cases)
    assert not failures, "\n".join(failures)
    assert_nothing_half_written(server, target)
    # Garbage codes count as wrong codes (the authenticator may now be locked), but none was
    # spent: a recovery code lifts any lock and the next TOTP code is accepted.
    api: Api = target["api"]
    uid = target["enrolled"]["id"]
    lifted = api.request(
        "POST", api.user_path(uid, "/recovery-codes/verify"), json={"code": target["codes"][0]}
    )
    assert lifted.status_code == 200, lifted.text
    assert api.verify(uid, totp_code(target["registration"], 1)).json() == {"valid": True}


NUL_CASES = [
    ("GET", "/users/%00"),
    ("PATCH", "/users/%00"),
    ("DELETE", "/users/%00"),
    ("POST", "/users/%00/totp"),
    ("POST", "/users/%00/totp/verify"),
    ("POST", "/users/%00/recovery-codes/verify"),
    ("GET", "/users/{uid}?application=%00"),
    ("POST", "/users/{uid}/totp/verify?application=%00"),
    ("POST", "/users/{uid}/recovery-codes?application=%00"),
]


def test_nul_bytes_in_path_and_query_get_a_4xx(server: Server, target: dict[str, Any]) -> None:
    api: Api = target["api"]
    cases = []
    for method, tail in NUL_CASES:
        path = f"/api/v1/org/{api.org}" + tail.format(uid=target["enrolled"]["id"])
        body = (
            {"code": "123456"}
            if "verify" in tail
            else ({"status": "disabled"} if method == "PATCH" else None)
        )
        cases.append((method, path, {"json": body}))
    failures = check_batch(server, target, cases)
    assert not failures, "\n".join(failures)
    assert_nothing_half_written(server, target)


def test_control_characters_in_an_organization_name_get_a_422(server: Server) -> None:
    domain = f"nul-{secrets.token_hex(4)}"
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.post(
            "/api/v1/organizations",
            json={"name": "Acme\x00Corp", "domain": domain},
            headers={"Authorization": f"Bearer {server.admin_key}"},
        )
        assert_problem(response, 422, "validation_error")


def test_oversized_bodies_get_413(server: Server, target: dict[str, Any]) -> None:
    api: Api = target["api"]
    verify = api.user_path(target["enrolled"]["id"], "/totp/verify")
    big = b'{"code": "' + b"1" * (1024 * 1024) + b'"}'
    response = api.request(
        "POST", verify, content=big, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")

    big_user = {"email": "big@example.test", "password": "p" * (1024 * 1024)}
    assert_problem(
        api.request("POST", f"/api/v1/org/{api.org}/users", json=big_user), 413, "payload_too_large"
    )
    assert_nothing_half_written(server, target)


def test_oversized_chunked_bodies_get_413(server: Server, target: dict[str, Any]) -> None:
    api: Api = target["api"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        yield b'{"code": "'
        for _ in range(32):
            yield b"2" * 8192
        yield b'"}'

    response = api.request(
        "POST",
        api.user_path(target["enrolled"]["id"], "/totp/verify"),
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 413, "payload_too_large")


def test_deeply_nested_json_is_a_validation_error(server: Server, target: dict[str, Any]) -> None:
    api: Api = target["api"]
    for path, raw in [
        (api.user_path(target["enrolled"]["id"], "/totp/verify"), b"[" * 5000),
        (f"/api/v1/org/{api.org}/auth-config", b'{"a":' * 5000),
    ]:
        method = "PATCH" if path.endswith("auth-config") else "POST"
        response = api.request(
            method, path, content=raw, headers={"content-type": "application/json"}
        )
        assert_problem(response, 422, "validation_error")


def test_unknown_query_parameters_are_ignored(server: Server, target: dict[str, Any]) -> None:
    api: Api = target["api"]
    response = api.request(
        "GET",
        f"/api/v1/org/{api.org}/users",
        params={"zzz": "1", "sort": "'; DROP TABLE users;--", "page[]": "2"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 2


# -- secrets never leak ----------------------------------------------------------------------


def test_secrets_never_leak_into_answers_or_logs(server: Server) -> None:
    password = f"Pa55-{secrets.token_hex(8)}-word"
    wrong_password = f"wrong-{secrets.token_hex(8)}"
    api, created = new_organization(server)
    sandbox_key = created["api_keys"]["sandbox"]
    bogus_key = f"ts_prod_{secrets.token_urlsafe(24)}"
    sent_codes: set[str] = set()
    answers: list[httpx.Response] = []
    with closing(api):
        user = api.create_user(email="leak@example.test", password=password)
        registration = api.register(user["id"])
        secret, uri = registration["secret"], registration["uri"]
        for _ in range(2):
            bad = wrong_code(registration)
            sent_codes.add(bad)
            answers.append(api.confirm(user["id"], bad))
        good = totp_code(registration)
        sent_codes.add(good)
        confirmed = api.confirm(user["id"], good)  # the one answer that shows the codes
        recovery = confirmed.json()["recovery_codes"]
        answers.append(api.verify(user["id"], good))  # reused
        following = totp_code(registration, 1)
        sent_codes.add(following)
        answers.append(api.verify(user["id"], following))
        for bad in ("98765432", "000000"):
            if bad not in {totp_code(registration, s) for s in range(-2, 3)}:
                sent_codes.add(bad)
                answers.append(api.verify(user["id"], bad))
        wrong_recovery = "zzzz-zzzz-zzzz-zzzz"
        answers.append(
            api.request(
                "POST",
                api.user_path(user["id"], "/recovery-codes/verify"),
                json={"code": wrong_recovery},
            )
        )
        answers.append(
            api.request(
                "POST",
                api.user_path(user["id"], "/recovery-codes/verify"),
                json={"code": recovery[0]},
            )
        )
        answers.append(
            api.request(
                "POST",
                api.user_path(user["id"], "/recovery-codes/verify"),
                json={"code": recovery[1]},
            )
        )  # rate limited
        answers.append(
            api.request("PATCH", api.user_path(user["id"]), json={"password": wrong_password})
        )
        answers.append(
            api.request(
                "PATCH", api.user_path(user["id"]), json={"password": "short", "email": "bad"}
            )
        )
        answers.append(
            api.request(
                "POST",
                f"/api/v1/org/{api.org}/users",
                json={"email": "leak@example.test", "password": password},
            )
        )
        answers.append(api.request("POST", api.user_path(user["id"], "/totp")))
        answers.append(api.request("GET", api.user_path(user["id"])))
        answers.append(api.request("GET", f"/api/v1/org/{api.org}/users"))
        answers.append(api.request("GET", f"/api/v1/org/{api.org}/auth-config"))
        answers.append(api.request("GET", f"/api/v1/organizations/{api.org}"))
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for key in (bogus_key, sandbox_key):
                answers.append(
                    http.get(
                        f"/api/v1/org/{api.org}/users/{user['id']}",
                        headers={"Authorization": f"Bearer {key}"},
                    )
                )
            answers.append(http.get("/metrics"))

    leaked = [secret, secret.lower(), uri, uri.split("?")[1]]
    for response in answers:
        for value in leaked:
            assert value not in response.text, (response.request.url, response.text[:200])
        for code in recovery:
            assert code not in response.text
    assert {r.status_code for r in answers} >= {200, 400, 401, 409, 422, 429}

    logs = server.logs()
    assert "Twostep listening" in logs
    forbidden = {
        "the secret": secret,
        "the secret, lower case": secret.lower(),
        "the key URI": uri,
        "the password": password,
        "the wrong password": wrong_password,
        "the production API key": api.key,
        "the sandbox API key": sandbox_key,
        "a wrong API key": bogus_key,
        "the server-admin API key": server.admin_key,
        "a wrong recovery code": wrong_recovery,
    }
    for i, code in enumerate(recovery):
        forbidden[f"recovery code {i}"] = code
        forbidden[f"recovery code {i}, canonical"] = code.replace("-", "")
    for name, value in forbidden.items():
        assert value not in logs, f"{name} is in the server logs"
    for code in sent_codes:
        assert not re.search(rf"(?<![\w.]){code}(?!\w)", logs), f"TOTP code {code} is in the logs"


# -- operations ------------------------------------------------------------------------------


def test_health_readiness_and_metrics(server: Server, target: dict[str, Any]) -> None:
    api: Api = target["api"]
    api.verify(target["enrolled"]["id"], wrong_code(target["registration"]))
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok"}
        metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert re.search(r"^# HELP \w+ .+$", text, re.MULTILINE)
    assert re.search(r"^# TYPE \w+ (counter|gauge|histogram|summary)$", text, re.MULTILINE)
    samples = re.findall(r"^(twostep_\w+)(\{[^}]*\})? ([0-9.e+-]+)$", text, re.MULTILINE)
    checks = {
        labels: float(value)
        for name, labels, value in samples
        if name == "twostep_totp_checks_total"
    }
    assert checks.get('{operation="confirm",outcome="accepted"}', 0) >= 1
    assert checks.get('{operation="verify",outcome="invalid"}', 0) >= 1


def test_openapi_lists_every_management_path(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in SPEC_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    for path in ("/healthz", "/readyz", "/metrics"):
        assert path in paths
