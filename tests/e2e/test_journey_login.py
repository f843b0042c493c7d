"""The built-in journeys end to end over HTTP, on SQLite and PostgreSQL, driven by the typed
client a developer would use (``twostep.client``): password only, password and TOTP, recovery
code, enforced first-login enrollment, a closed lock; and a journey an admin publishes."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_api_errors import assert_problem, enroll, totp_code, wrong_code
from tests.e2e.test_readme import readme_block
from tests.server import Api, Server
from twostep.client import JourneyClient, ProblemError, Rejection, Step, Success

PASSWORD = "correct horse battery staple"


def oathtool(secret: str, *options: str) -> str:
    done = subprocess.run(
        ["oathtool", "--totp", "-b", *options, secret], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def client(api: Api) -> Iterator[JourneyClient]:
    with JourneyClient(api.base_url, client_id=f"{api.org}-production") as journeys:
        yield journeys


def new_user(api: Api, **fields: Any) -> dict[str, Any]:
    fields.setdefault("email", f"{secrets.token_hex(5)}@example.test")
    return api.create_user(password=PASSWORD, **fields)


def test_password_only_issues_a_session_token(api: Api, client: JourneyClient) -> None:
    user = new_user(api, username="ann")
    first = client.start()
    assert isinstance(first, Step)
    assert first.step_id == "Password"
    assert first.payload == {}

    wrong = client.submit(first, {"username": "ann", "password": "nope"})
    assert isinstance(wrong, Step)
    assert wrong.step_id == "Password"
    assert wrong.error is not None
    assert wrong.error.code == "invalid_credentials"

    # The username or the email, any case for the email.
    done = client.submit(first, {"username": user["email"].upper(), "password": PASSWORD})
    assert isinstance(done, Success)
    assert done.amr == ["pwd"]
    session = client.session(done.token)
    assert session["user_id"] == user["id"]
    assert session["amr"] == ["pwd"]

    metrics = httpx.get(f"{api.base_url}/metrics").text
    assert 'twostep_journey_ends_total{journey="login",outcome="completed"}' in metrics

    client.sign_out(done.token)
    with pytest.raises(ProblemError) as refused:
        client.session(done.token)
    assert refused.value.status == 401
    assert refused.value.code == "not_authenticated"
    with pytest.raises(ProblemError) as finished:
        client.submit(first, {"username": "ann", "password": PASSWORD})
    assert finished.value.code == "journey_expired"


def test_password_and_totp(api: Api, client: JourneyClient) -> None:
    user, registration, _ = enroll(api, password=PASSWORD)
    challenge = client.submit(client.start(), {"username": user["email"], "password": PASSWORD})
    assert isinstance(challenge, Step)
    assert challenge.step_id == "TotpAuthentication"
    assert challenge.payload == {"alternatives": ["recovery_code"]}

    again = client.submit(challenge, {"code": wrong_code(registration)})
    assert isinstance(again, Step)
    assert again.step_id == "TotpAuthentication"
    assert again.error is not None
    assert again.error.code == "invalid_code"

    code = oathtool(registration["secret"], "-N", "+30 seconds")
    done = client.submit(challenge, {"code": code})
    assert isinstance(done, Success)
    assert done.amr == ["pwd", "otp"]

    # The same code in a second login is a replay, exactly as with the verify API.
    replay = client.login(user["email"], PASSWORD, code=lambda: code)
    assert isinstance(replay, Step)
    assert replay.error is not None
    assert replay.error.code == "code_reused"


def test_lockout_in_the_journey_is_the_verify_api_lockout(api: Api, client: JourneyClient) -> None:
    user, registration, _ = enroll(api, password=PASSWORD)
    challenge = client.submit(client.start(), {"username": user["email"], "password": PASSWORD})
    assert isinstance(challenge, Step)
    codes = []
    for _ in range(6):
        answer = client.submit(challenge, {"code": wrong_code(registration)})
        assert isinstance(answer, Step)
        assert answer.error is not None
        codes.append(answer.error.code)
    assert codes == ["invalid_code"] * 5 + ["locked_out"]
    locked = client.submit(challenge, {"code": totp_code(registration, 1)})
    assert isinstance(locked, Step)
    assert locked.error is not None
    assert locked.error.code == "locked_out"
    assert locked.error.retry_after is not None
    assert 0 < locked.error.retry_after <= 30
    assert_problem(api.verify(user["id"], totp_code(registration, 1)), 429, "locked_out")


def test_recovery_code_instead_of_the_code(api: Api, client: JourneyClient) -> None:
    user, _, recovery_codes = enroll(api, password=PASSWORD)
    done = client.login(user["email"], PASSWORD, recovery_code=recovery_codes[2].upper())
    assert isinstance(done, Success)
    assert done.amr == ["pwd", "recovery"]
    shown = api.request("GET", api.user_path(user["id"])).json()
    assert shown["two_factor"]["recovery_codes_remaining"] == 4
    # The same code again is refused: single use (and the 24-hour rule would refuse another).
    again = client.login(user["email"], PASSWORD, recovery_code=recovery_codes[2])
    assert isinstance(again, Step)
    assert again.step_id == "RecoveryCode"
    assert again.error is not None
    assert again.error.code == "recovery_code_invalid"


def test_enforced_enrollment_at_first_login(api: Api, client: JourneyClient) -> None:
    user = new_user(api)
    assert api.patch_config({"totp": {"enforce": True}}).status_code == 200
    registration = client.submit(client.start(), {"username": user["email"], "password": PASSWORD})
    assert isinstance(registration, Step)
    assert registration.step_id == "TotpRegistration"
    assert set(registration.payload) == {"secret", "uri"}
    assert registration.payload["uri"].startswith("otpauth://totp/")
    # Until the first code, the user is not enrolled: a pending authenticator counts for nothing.
    assert api.request("GET", api.user_path(user["id"])).json()["two_factor"]["enabled"] is False

    first_code = client.submit(registration, {})
    assert isinstance(first_code, Step)
    assert first_code.step_id == "TotpAuthentication"
    assert first_code.payload == {"alternatives": []}
    codes = client.submit(first_code, {"code": oathtool(registration.payload["secret"])})
    assert isinstance(codes, Step)
    assert codes.step_id == "RecoveryCodes"
    assert len(codes.payload["codes"]) == 5

    unconfirmed = client.submit(codes, {})
    assert isinstance(unconfirmed, Step)
    assert unconfirmed.step_id == "RecoveryCodes"
    assert unconfirmed.error is not None
    assert unconfirmed.payload == codes.payload
    done = client.submit(codes, {"confirmed": True})
    assert isinstance(done, Success)
    assert done.amr == ["pwd", "otp"]
    two_factor = api.request("GET", api.user_path(user["id"])).json()["two_factor"]
    assert two_factor["enabled"] is True
    assert two_factor["recovery_codes_remaining"] == 5

    # The next login asks for the code; one of the codes shown works instead.
    later = client.login(user["email"], PASSWORD, recovery_code=codes.payload["codes"][0])
    assert isinstance(later, Success)
    assert later.amr == ["pwd", "recovery"]


def test_a_closed_lock_rejects_every_login(api: Api, client: JourneyClient) -> None:
    assert api.patch_config({"lock": {"enabled": True}}).status_code == 200
    user, registration, _ = enroll(api, password=PASSWORD)
    lock = api.user_path(user["id"], "/lock")
    assert api.request("POST", lock).status_code == 201

    challenge = client.submit(client.start(), {"username": user["email"], "password": PASSWORD})
    assert isinstance(challenge, Step)
    assert challenge.step_id == "TotpAuthentication"
    assert api.request("PATCH", lock, json={"closed": True}).status_code == 200
    refused = client.submit(challenge, {"code": totp_code(registration, 1)})
    assert isinstance(refused, Rejection)
    assert refused.error.code == "account_locked"

    for attempt in (
        lambda: client.login(user["email"], PASSWORD, code=lambda: totp_code(registration, 1)),
        lambda: client.start("enroll"),
        lambda: client.start("disable"),
    ):
        answer = attempt()
        if isinstance(answer, Step):  # the journeys that start with the password step
            answer = client.submit(answer, {"username": user["email"], "password": PASSWORD})
        assert isinstance(answer, Rejection)
        assert answer.error.code == "account_locked"

    # A wrong password says nothing of the lock.
    wrong = client.submit(client.start(), {"username": user["email"], "password": "nope"})
    assert isinstance(wrong, Step)
    assert wrong.error is not None
    assert wrong.error.code == "invalid_credentials"

    assert api.request("PATCH", lock, json={"closed": False}).status_code == 200
    opened = client.login(user["email"], PASSWORD, code=lambda: totp_code(registration, 1))
    assert isinstance(opened, Success)


def test_enroll_and_disable_journeys(api: Api, client: JourneyClient) -> None:
    user = new_user(api)
    registration = client.submit(
        client.start("enroll"), {"username": user["email"], "password": PASSWORD}
    )
    assert isinstance(registration, Step)
    assert registration.step_id == "TotpRegistration"
    challenge = client.submit(registration, {})
    assert isinstance(challenge, Step)
    codes = client.submit(challenge, {"code": oathtool(registration.payload["secret"])})
    assert isinstance(codes, Step)
    assert isinstance(client.submit(codes, {"confirmed": True}), Success)

    again = client.submit(client.start("enroll"), {"username": user["email"], "password": PASSWORD})
    assert isinstance(again, Rejection)
    assert again.error.code == "totp_already_enrolled"

    confirm = client.submit(
        client.start("disable"), {"username": user["email"], "password": PASSWORD}
    )
    assert isinstance(confirm, Step)
    assert confirm.step_id == "TotpAuthentication"
    done = client.submit(
        confirm, {"code": oathtool(registration.payload["secret"], "-N", "+30 seconds")}
    )
    assert isinstance(done, Success)
    assert api.request("GET", api.user_path(user["id"])).json()["two_factor"]["enabled"] is False

    nothing = client.submit(
        client.start("disable"), {"username": user["email"], "password": PASSWORD}
    )
    assert isinstance(nothing, Rejection)
    assert nothing.error.code == "totp_not_enrolled"


# The README's complete example: what it documents is what is tested.
SIGNUP = json.loads(readme_block("journey-example", "json"))


def test_a_published_journey_with_register_totp(api: Api, client: JourneyClient) -> None:
    published = api.request("PUT", f"/api/v1/org/{api.org}/journeys/signup", json=SIGNUP)
    assert published.status_code == 200, published.text
    email = f"{secrets.token_hex(5)}@shop.test"

    registration = client.start("signup", {"email": email})
    assert isinstance(registration, Step)
    assert registration.step_id == "TotpRegistration"
    # The label expression names the account; the unknown email became a user.
    assert f"Shop%3A%20{email.replace('@', '%40')}" in registration.payload["uri"]
    users = api.request("GET", f"/api/v1/org/{api.org}/users", params={"per_page": 100}).json()
    assert email in [u["email"] for u in users["data"]]

    challenge = client.submit(registration, {})
    assert isinstance(challenge, Step)
    done = client.submit(challenge, {"code": oathtool(registration.payload["secret"])})
    assert isinstance(done, Success)
    assert done.amr == ["otp"]

    # Signing up again takes the failure branch, where the error output variable is read;
    # so does an account without an authenticator (sign-up never binds to an existing one).
    twice = client.start("signup", {"email": email})
    assert isinstance(twice, Rejection)
    assert twice.error.code == "already_signed_up"
    assert twice.error.detail == "You already have an account. Sign in instead."
    bare = new_user(api)
    existing = client.start("signup", {"email": bare["email"]})
    assert isinstance(existing, Rejection)
    assert existing.error == twice.error
    # No identifier at all: another error, the other branch, which repeats the error.
    nameless = client.start("signup", {})
    assert isinstance(nameless, Rejection)
    assert nameless.error.code == "validation_error"


def test_errors_are_translated_in_the_answers(api: Api) -> None:
    user = new_user(api)
    with JourneyClient(api.base_url, client_id=f"{api.org}-production", accept_language="es") as es:
        wrong = es.submit(es.start(), {"username": user["email"], "password": "nope"})
    assert isinstance(wrong, Step)
    assert wrong.error is not None
    assert wrong.error.code == "invalid_credentials"
    assert wrong.error.detail == "El usuario o la contraseña no son correctos."


def test_the_journey_api_refuses_bad_requests(api: Api, server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        start = "/api/v1/journeys/login/start"
        assert_problem(http.post(start, json={"client_id": "no-such-client"}), 404, "not_found")
        assert_problem(
            http.post("/api/v1/journeys/nope/start", json={"client_id": f"{api.org}-production"}),
            404,
            "not_found",
        )
        for body in [
            {},
            {"client_id": 1},
            {"client_id": "a b"},
            {"client_id": "x", "extra": 1},
            {"client_id": "x", "input": []},
        ]:
            assert_problem(http.post(start, json=body), 422, "validation_error")
        assert_problem(
            http.post(start, content=b"{nope", headers={"content-type": "application/json"}),
            422,
            "validation_error",
        )
        submit = "/api/v1/journeys/sessions/{}/submit"
        assert_problem(
            http.post(submit.format("no-such-session"), json={"input": {}}), 410, "journey_expired"
        )
        assert_problem(
            http.post(submit.format("bad%20id"), json={"input": {}}), 422, "validation_error"
        )
        session = http.post(start, json={"client_id": f"{api.org}-production"}).json()["session"]
        for body in [{"input": "x"}, {"input": {}, "more": 1}, []]:
            assert_problem(http.post(submit.format(session), json=body), 422, "validation_error")
        odd = http.post(
            submit.format(session), json={"input": {"username": ["a"], "password": None}}
        )
        assert odd.status_code == 200
        assert odd.json()["data"]["error"]["code"] == "validation_error"


def test_hostile_answers_never_break_a_journey(api: Api, server: Server) -> None:
    user, registration, recovery_codes = enroll(api, password=PASSWORD)
    nasty: list[Any] = [
        None,
        0,
        -1,
        1e308,
        True,
        [],
        ["a"],
        {"a": {"b": 1}},
        "",
        " ",
        "\x00",
        "a\x00b",
        "١٢٣٤٥٦",
        "１２３４５６",
        "😀" * 50,
        "x" * 10_000,
        "' OR '1'='1",
        "\u202e",
    ]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:

        def submit(session: str, answer: dict[str, Any]) -> dict[str, Any]:
            response = http.post(
                f"/api/v1/journeys/sessions/{session}/submit", json={"input": answer}
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        started = http.post(
            "/api/v1/journeys/login/start",
            json={"client_id": f"{api.org}-production", "input": {"deep": [[[[[[[[[[1]]]]]]]]]]}},
        )
        session = started.json()["session"]
        malformed = [
            v
            for v in nasty
            if not isinstance(v, str) or not v.strip() or not v.isprintable() or len(v) > 1024
        ]
        for value in malformed:
            for answer in (
                {"username": value, "password": value},
                {
                    "username": user["email"],
                    "password": "" if isinstance(value, str) else value,
                },
                {"username": value},
            ):
                body = submit(session, answer)
                assert body["journeyStepId"] == "Password", body
                assert body["data"]["error"]["code"] == "validation_error", body
        # Four strange but well-formed wrong answers count as wrong passwords (five would end it).
        for value in ["١٢٣٤٥٦", "😀" * 50, "' OR '1'='1", "x" * 320]:
            body = submit(session, {"username": value, "password": value})
            assert body["data"]["error"]["code"] == "invalid_credentials", body
        # Wrong passwords that look like passwords count; malformed input does not.
        challenge = submit(session, {"username": user["email"], "password": PASSWORD})
        assert challenge["journeyStepId"] == "TotpAuthentication"
        for value in nasty:
            body = submit(session, {"code": value})
            assert body["journeyStepId"] == "TotpAuthentication", body
            assert body["data"]["error"]["code"] in {
                "validation_error",
                "invalid_code",
                "locked_out",
            }
        body = submit(session, {"alternative": "something else"})
        assert body["data"]["error"]["code"] in {"validation_error", "locked_out"}
        body = submit(session, {"alternative": "recovery_code"})
        assert body["journeyStepId"] == "RecoveryCode"
        for value in nasty[:4]:
            body = submit(session, {"code": value})
            assert body["journeyStepId"] == "RecoveryCode", body
        done = submit(session, {"code": recovery_codes[0]})
        assert done["journeyStepId"] == "Success", done
    assert "Traceback" not in server.logs()
    assert PASSWORD not in server.logs()
    assert registration["secret"] not in server.logs()
