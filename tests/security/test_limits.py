"""Limits that protect one tenant and one account instead of locking everyone out (spec 3b.4),
codes typed with spaces or dashes, and an audit row for every refused attempt; against real
``twostep serve`` processes on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from tests.e2e.test_api_errors import assert_problem, enroll, totp_code, wrong_code
from tests.e2e.test_pages_safety import form_value
from tests.pg import PostgresServer
from tests.server import Api, Server, new_organization, running_server
from twostep.client import JourneyClient, JourneyError, Step, Success
from twostep.settings import Settings
from twostep.web.client_address import client_address

PASSWORD = "correct horse battery staple"
LIMIT = 3
TOO_MANY_ATTEMPTS = "Too many attempts. Try again in"


def fresh_minute(margin_s: float = 15) -> None:
    """Per-IP counters live for a clock minute: start a sequence that needs one whole."""
    into = time.time() % 60
    if into > 60 - margin_s:
        time.sleep(60 - into + 0.5)


def journeys(api: Api, **headers: str) -> JourneyClient:
    """The journey API of the organization's production application, as its front end calls it."""
    client = JourneyClient(api.base_url, client_id=f"{api.org}-production", timeout=30)
    client.http.headers.update(headers)
    return client


def events(api: Api, user_id: str | None = None) -> list[dict[str, Any]]:
    params = {"limit": 200} | ({"user": user_id} if user_id else {})
    response = api.request("GET", f"/api/v1/org/{api.org}/audit-events", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def password_step(client: JourneyClient, journey: str, username: str, password: str) -> Any:
    first = step_of(client.start(journey), "Password")
    return client.submit(first, {"username": username, "password": password})


def error_of(answer: Any) -> JourneyError:
    """The error of a step that asks again."""
    assert isinstance(answer, Step), answer
    assert answer.error is not None, answer
    return answer.error


def step_of(answer: Any, step_id: str) -> Step:
    assert isinstance(answer, Step), answer
    assert answer.step_id == step_id, answer
    return answer


def spaced(code: str) -> str:
    return f"{code[:3]} {code[3:]}"


def dashed(code: str) -> str:
    return f"{code[:3]}-{code[3:]}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def limited_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server that allows 3 wrong guesses an address a minute and trusts 127.0.0.1 as a proxy."""
    database_url = None
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.new_database()
    with running_server(
        tmp_path_factory.mktemp(f"limited-{request.param}"),
        database_url,
        TWOSTEP_IP_FAILURE_LIMIT=str(LIMIT),
        TWOSTEP_TRUSTED_PROXIES="127.0.0.1",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def untrusting_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same limit, with no trusted proxy (the default)."""
    with running_server(
        tmp_path_factory.mktemp("untrusting"), TWOSTEP_IP_FAILURE_LIMIT=str(LIMIT)
    ) as server:
        yield server


# -- one tenant's wrong codes lock out no one else -----------------------------------------------


def test_one_tenants_wrong_codes_lock_out_no_other_tenant_nor_user(server: Server) -> None:
    noisy, _ = new_organization(server)
    quiet, _ = new_organization(server)
    with closing(noisy), closing(quiet):
        # 70 wrong codes through the management API, all from the tenant's backend (127.0.0.1).
        answers: Counter[int] = Counter()
        for _ in range(14):
            user = noisy.create_user()
            registration = noisy.register(user["id"])
            for _ in range(5):
                answers[noisy.confirm(user["id"], wrong_code(registration)).status_code] += 1
        assert answers == {400: 70}

        # Another organization confirms and signs in with the password.
        other = quiet.create_user(password=PASSWORD)
        registration = quiet.register(other["id"])
        assert quiet.confirm(other["id"], totp_code(registration)).status_code == 200
        with journeys(quiet) as client:
            signed = password_step(client, "login", other["email"], PASSWORD)
            step_of(signed, "TotpAuthentication")
            assert signed.error is None

        # A new user of the same organization enrolls and confirms.
        late = noisy.create_user(password=PASSWORD)
        registration = noisy.register(late["id"])
        assert noisy.confirm(late["id"], totp_code(registration)).status_code == 200
        with journeys(noisy) as client:
            done = password_step(client, "login", late["email"], PASSWORD)
            step_of(done, "TotpAuthentication")


# -- a backend names its end user's address ------------------------------------------------------


def test_twostep_forwarded_for_counts_within_its_environment(limited_server: Server) -> None:
    api, _ = new_organization(limited_server)
    neighbour, _ = new_organization(limited_server)
    with closing(api), closing(neighbour):
        user, registration, _ = enroll(api)
        other, other_registration, _ = enroll(neighbour)
        end_user = {"Twostep-Forwarded-For": "203.0.113.9"}
        fresh_minute()
        for _ in range(LIMIT):
            response = api.request(
                "POST",
                api.user_path(user["id"], "/recovery-codes/verify"),
                json={"code": "ABCD-EFGH-JKLM"},
                headers=end_user,
            )
            assert_problem(response, 400, "recovery_code_invalid")
        # That address has used up its minute in this environment: even the right code waits.
        right = totp_code(registration, 1)
        path = api.user_path(user["id"], "/totp/verify")
        refused = api.request("POST", path, json={"code": right}, headers=end_user)
        assert_problem(refused, 429, "locked_out")
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        # Another end user of the same organization, and the backend itself, are not held up
        # (its own wrong code is evaluated, not refused).
        elsewhere = {"Twostep-Forwarded-For": "2001:db8::7"}
        assert api.request("POST", path, json={"code": right}, headers=elsewhere).status_code == 200
        assert_problem(api.verify(user["id"], wrong_code(registration)), 400, "invalid_code")
        # The same address in another organization is counted there, from zero.
        accepted = neighbour.request(
            "POST",
            neighbour.user_path(other["id"], "/totp/verify"),
            json={"code": totp_code(other_registration, 1)},
            headers=end_user,
        )
        assert accepted.status_code == 200, accepted.text

        # The refusal is in the audit trail, with where the request came from.
        refusal = next(e for e in events(api, user["id"]) if e["outcome"] == "rate_limited")
        assert refusal["action"] == "totp.verify"
        assert refusal["ip"] == "127.0.0.1"

        malformed = api.request(
            "POST", path, json={"code": right}, headers={"Twostep-Forwarded-For": "not-an-ip"}
        )
        body = assert_problem(malformed, 422, "validation_error")
        assert "Twostep-Forwarded-For" in malformed.text, body


# -- trusted proxies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "proxies", "header", "value", "expected"),
    [
        ("203.0.113.5", "", "x-forwarded-for", "198.51.100.1", "203.0.113.5"),
        ("10.0.0.1", "127.0.0.1", "x-forwarded-for", "198.51.100.1", "10.0.0.1"),
        ("127.0.0.1", "127.0.0.1", "x-forwarded-for", "198.51.100.1", "198.51.100.1"),
        # What the end user wrote themselves (left of the first untrusted hop) is not believed.
        (
            "127.0.0.1",
            "127.0.0.1,10.0.0.0/8",
            "x-forwarded-for",
            "6.6.6.6, 198.51.100.1, 10.2.3.4",
            "198.51.100.1",
        ),
        (
            "127.0.0.1",
            "127.0.0.1",
            "forwarded",
            'for="[2001:db8::1]:4711";proto=https',
            "2001:db8::1",
        ),
        ("127.0.0.1", "127.0.0.1", "forwarded", "for=192.0.2.60, for=198.51.100.3", "198.51.100.3"),
        ("127.0.0.1", "127.0.0.1", "forwarded", "for=unknown", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1", "x-forwarded-for", "", "127.0.0.1"),
    ],
)
def test_the_end_users_address_past_trusted_proxies(
    peer: str, proxies: str, header: str, value: str, expected: str
) -> None:
    trusted = Settings(trusted_proxies=proxies).trusted_proxies
    scope = {
        "type": "http",
        "client": (peer, 50000),
        "headers": [(header.encode(), value.encode())],
    }
    assert client_address(Request(scope), trusted) == expected


def wrong_passwords_then_right(server: Server) -> tuple[Any, Any]:
    """LIMIT wrong passwords from 198.51.100.1 (as a proxy says), then the right password of a
    user from 198.51.100.1 and from 198.51.100.2; returns the two answers."""
    api, _ = new_organization(server)
    with closing(api):
        user = api.create_user(password=PASSWORD)
        fresh_minute()
        with journeys(api, **{"X-Forwarded-For": "192.0.2.200, 198.51.100.1"}) as attacker:
            for i in range(LIMIT):
                wrong = password_step(attacker, "login", f"nobody{i}@example.test", "guess")
                assert error_of(wrong)
                assert wrong.error.code == "invalid_credentials"
            first = password_step(attacker, "login", user["email"], PASSWORD)
        with journeys(api, **{"X-Forwarded-For": "198.51.100.2"}) as neighbour:
            second = password_step(neighbour, "login", user["email"], PASSWORD)
    return first, second


def test_trusted_proxy_names_the_end_users_address(limited_server: Server) -> None:
    first, second = wrong_passwords_then_right(limited_server)
    assert error_of(first)
    assert first.error.code == "locked_out"
    assert first.error.detail.startswith(TOO_MANY_ATTEMPTS)
    assert isinstance(second, Success), second


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(untrusting_server: Server) -> None:
    first, second = wrong_passwords_then_right(untrusting_server)
    # Both come from 127.0.0.1, whatever the header claims: the peer's minute is used up.
    for answer in (first, second):
        assert error_of(answer)
        assert answer.error.code == "locked_out"


# -- wrong passwords per account, across journeys -------------------------------------------------


def test_wrong_passwords_lock_the_accounts_password_in_every_journey(server: Server) -> None:
    api, _ = new_organization(server)
    with closing(api), journeys(api) as client:
        victim = api.create_user(password=PASSWORD, username=f"v{secrets.token_hex(4)}")
        bystander = api.create_user(password=PASSWORD)
        # Five wrong passwords, spread over two login journeys.
        first = client.start("login")
        for _ in range(3):
            wrong = client.submit(first, {"username": victim["username"], "password": "x"})
            assert error_of(wrong)
            assert wrong.error.code == "invalid_credentials"
        for _ in range(2):
            wrong = password_step(client, "login", victim["email"], "y")
            assert error_of(wrong)
            assert wrong.error.code == "invalid_credentials"

        # Now the right password is refused, in another journey, without being checked.
        for journey in ("enroll", "login"):
            locked = password_step(client, journey, victim["email"], PASSWORD)
            assert error_of(locked)
            assert locked.error.code == "locked_out"
            assert locked.error.retry_after is not None
            assert 0 < locked.error.retry_after <= 30
            assert locked.error.detail.startswith(TOO_MANY_ATTEMPTS)
            assert "wrong codes" not in locked.error.detail

        # The hosted sign-in page says the same.
        with httpx.Client(base_url=server.base_url, timeout=30) as browser:
            page = browser.get("/auth/login", params={"org": api.org})
            form = {
                "csrf": form_value(page.text, "csrf"),
                "step": "Password",
                "username": victim["email"],
                "password": PASSWORD,
            }
            answer = browser.post("/auth/journey", data=form)
            assert TOO_MANY_ATTEMPTS in answer.text
            assert "wrong codes" not in answer.text

        # Another account of the organization is not affected.
        assert isinstance(password_step(client, "login", bystander["email"], PASSWORD), Success)

        trail = [(e["action"], e["outcome"]) for e in events(api, victim["id"])]
        assert trail[:3] == [("login.password", "locked")] * 3
        assert trail.count(("login.password", "invalid")) == 5
        assert ("login.password", "ok") not in trail


def test_an_unknown_username_is_locked_like_a_known_one(server: Server) -> None:
    api, _ = new_organization(server)
    with closing(api), journeys(api) as client:
        known = api.create_user(password=PASSWORD)
        answers: dict[str, list[str]] = {}
        for name in (known["email"], f"nobody-{secrets.token_hex(4)}@example.test"):
            codes = []
            for _ in range(6):
                answer = password_step(client, "login", name, "wrong")
                assert error_of(answer)
                codes.append(answer.error.code)
            answers[name] = codes
        first, second = answers.values()
        assert first == second == ["invalid_credentials"] * 5 + ["locked_out"]


def test_a_correct_password_resets_the_count(server: Server) -> None:
    api, _ = new_organization(server)
    with closing(api), journeys(api) as client:
        user = api.create_user(password=PASSWORD)
        for _ in range(2):
            for _ in range(4):
                wrong = password_step(client, "login", user["email"], "wrong")
                assert error_of(wrong)
                assert wrong.error.code == "invalid_credentials"
            assert isinstance(password_step(client, "login", user["email"], PASSWORD), Success)


# -- codes typed with spaces or dashes ------------------------------------------------------------


def test_spaced_and_dashed_codes_are_the_right_code(api: Api) -> None:
    user = api.create_user(password=PASSWORD)
    registration = api.register(user["id"])
    assert api.confirm(user["id"], spaced(totp_code(registration))).status_code == 200
    assert api.verify(user["id"], dashed(totp_code(registration, 1))).status_code == 200
    assert_problem(api.verify(user["id"], spaced(totp_code(registration, 1))), 400, "code_reused")

    # In a login journey.
    signing_in, phone, _ = enroll(api, password=PASSWORD)
    with journeys(api) as client:
        challenge = password_step(client, "login", signing_in["email"], PASSWORD)
        step_of(challenge, "TotpAuthentication")
        done = client.submit(challenge, {"code": f" {spaced(totp_code(phone, 1))} "})
        assert isinstance(done, Success), done

    # In an enrollment journey, confirming the new authenticator.
    enrolling = api.create_user(password=PASSWORD)
    with journeys(api) as client:
        shown = password_step(client, "enroll", enrolling["email"], PASSWORD)
        step_of(shown, "TotpRegistration")
        challenge = client.submit(shown, {})
        step_of(challenge, "TotpAuthentication")
        codes = client.submit(challenge, {"code": dashed(totp_code(shown.payload))})
        step_of(codes, "RecoveryCodes")


# -- every refused attempt is audited -------------------------------------------------------------


def test_the_24_hour_recovery_rule_leaves_an_audit_row(api: Api) -> None:
    user, _, codes = enroll(api)
    path = api.user_path(user["id"], "/recovery-codes/verify")
    assert api.request("POST", path, json={"code": codes[0]}).status_code == 200
    assert_problem(
        api.request("POST", path, json={"code": codes[1]}), 429, "recovery_code_rate_limited"
    )
    trail = [(e["action"], e["outcome"]) for e in events(api, user["id"])]
    assert trail[:2] == [("recovery.use", "rate_limited"), ("recovery.use", "ok")]


def test_the_per_ip_limit_leaves_an_audit_row_on_the_journey_api(limited_server: Server) -> None:
    api, _ = new_organization(limited_server)
    with closing(api):
        user = api.create_user(password=PASSWORD)
        fresh_minute()
        with journeys(api, **{"X-Forwarded-For": "198.51.100.77"}) as client:
            for _ in range(LIMIT):
                password_step(client, "login", user["email"], "wrong")
            refused = password_step(client, "login", user["email"], PASSWORD)
        assert error_of(refused)
        assert refused.error.code == "locked_out"
        refusal = events(api, user["id"])[0]
        assert (refusal["action"], refusal["outcome"], refusal["ip"]) == (
            "login.password",
            "rate_limited",
            "198.51.100.77",
        )
