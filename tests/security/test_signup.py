"""Sign-up never binds an authenticator to an existing account (spec 3b.3, issue 9 item 3).

The attack: a journey with ``register_totp`` and ``user_auth_state: not_authenticated`` is
started with the victim's email; it used to hand the attacker a new secret for the victim's
account, and the following ``authenticate_totp`` + ``complete`` a session as the victim.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_api_errors import enroll, totp_code
from tests.server import Api
from twostep.client import JourneyClient, Rejection, Step, Success

PASSWORD = "correct horse battery staple"

# The shape the README used to show: the failure branch repeats the error (reject, no code).
SIGNUP: dict[str, Any] = {
    "start": "register",
    "steps": [
        {
            "id": "register",
            "type": "register_totp",
            "next": "first_code",
            "on_failure": "refused",
            "config": {
                "user_auth_state": "not_authenticated",
                "user_identifier": "input.email",
                "failure_behavior": "branch",
            },
        },
        {"id": "first_code", "type": "authenticate_totp", "next": "done"},
        {"id": "done", "type": "complete"},
        {"id": "refused", "type": "reject"},
    ],
}


def oathtool(secret: str) -> str:
    done = subprocess.run(
        ["oathtool", "--totp", "-b", secret], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def publish(api: Api, name: str, definition: dict[str, Any]) -> None:
    published = api.request("PUT", f"/api/v1/org/{api.org}/journeys/{name}", json=definition)
    assert published.status_code == 200, published.text


def start(api: Api, name: str, email: str) -> httpx.Response:
    """The raw answer to starting the journey, as any caller of the journey API sees it."""
    return api.http.post(
        f"/api/v1/journeys/{name}/start",
        json={"client_id": f"{api.org}-production", "input": {"email": email}},
    )


def two_factor(api: Api, user_id: str) -> dict[str, Any]:
    return dict(api.request("GET", api.user_path(user_id)).json()["two_factor"])


@pytest.fixture
def client(api: Api) -> Iterator[JourneyClient]:
    with JourneyClient(api.base_url, client_id=f"{api.org}-production") as journeys:
        yield journeys


def test_signing_up_with_an_existing_accounts_email_is_refused(
    api: Api, client: JourneyClient
) -> None:
    publish(api, "signup", SIGNUP)
    victim = api.create_user(password=PASSWORD)  # no authenticator yet
    attempt = client.start("signup", {"email": victim["email"]})
    if isinstance(attempt, Step):  # the hole: a secret for the victim's account
        confirm = client.submit(attempt, {})
        assert isinstance(confirm, Step)
        taken = client.submit(confirm, {"code": oathtool(attempt.payload["secret"])})
        assert not isinstance(taken, Success), "a stranger's code signed in as the victim"
    assert isinstance(attempt, Rejection), attempt
    assert attempt.error.code == "identity_not_verified"
    # Nothing was written for the victim: no pending authenticator, no new user.
    assert two_factor(api, victim["id"])["status"] is None
    # Upper case is the same email: refused the same way.
    shouted = client.start("signup", {"email": victim["email"].upper()})
    assert isinstance(shouted, Rejection)
    assert shouted.error.code == "identity_not_verified"


def test_with_or_without_an_authenticator_the_refusal_is_the_same(api: Api) -> None:
    publish(api, "signup", SIGNUP)
    bare = api.create_user(password=PASSWORD)
    enrolled, registration, _ = enroll(api, password=PASSWORD)
    before = two_factor(api, enrolled["id"])
    answers = [start(api, "signup", user["email"]) for user in (bare, enrolled)]
    bodies = []
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "secret" not in answer.text
        body.pop("session", None)
        bodies.append(body)
    assert bodies[0] == bodies[1]  # nothing tells whether the account has an authenticator
    assert bodies[0]["journeyStepId"] == "Rejection"
    assert bodies[0]["data"]["error"]["code"] == "identity_not_verified"
    # The existing authenticator is untouched: the same one, and its codes still work.
    assert two_factor(api, enrolled["id"]) == before
    assert api.verify(enrolled["id"], totp_code(registration, 1)).status_code == 200
    assert two_factor(api, bare["id"])["status"] is None


def test_a_username_names_an_account_too(api: Api, client: JourneyClient) -> None:
    publish(api, "signup", SIGNUP)
    user = api.create_user(password=PASSWORD, username=f"ann{secrets.token_hex(3)}")
    refused = client.start("signup", {"email": user["username"]})
    assert isinstance(refused, Rejection)
    assert refused.error.code == "identity_not_verified"


def test_without_a_branch_the_journey_aborts_and_with_one_it_branches(
    api: Api, client: JourneyClient
) -> None:
    user = api.create_user(password=PASSWORD)
    # No failure_behavior: with an on_failure step the failure branch is taken (the seed's
    # default), where the journey can say what it likes.
    branching = {
        "start": "register",
        "steps": [
            {
                "id": "register",
                "type": "register_totp",
                "next": "first_code",
                "on_failure": "known",
                "config": {
                    "user_auth_state": "not_authenticated",
                    "user_identifier": "input.email",
                },
            },
            {"id": "first_code", "type": "authenticate_totp", "next": "done"},
            {"id": "done", "type": "complete"},
            {"id": "known", "type": "reject", "config": {"code": "already_signed_up"}},
        ],
    }
    publish(api, "branching", branching)
    branched = client.start("branching", {"email": user["email"]})
    assert isinstance(branched, Rejection)
    assert branched.error.code == "already_signed_up"
    # Without an on_failure step it aborts with the error itself.
    aborting = {
        "start": "register",
        "steps": [
            {**branching["steps"][0], "on_failure": None},
            *branching["steps"][1:3],
        ],
    }
    publish(api, "aborting", aborting)
    aborted = client.start("aborting", {"email": user["email"]})
    assert isinstance(aborted, Rejection)
    assert aborted.error.code == "identity_not_verified"


def test_a_new_identifier_still_signs_up(api: Api, client: JourneyClient) -> None:
    publish(api, "signup", SIGNUP)
    email = f"{secrets.token_hex(5)}@shop.test"
    registration = client.start("signup", {"email": email})
    assert isinstance(registration, Step), registration
    assert registration.step_id == "TotpRegistration"
    challenge = client.submit(registration, {})
    assert isinstance(challenge, Step)
    done = client.submit(challenge, {"code": oathtool(registration.payload["secret"])})
    assert isinstance(done, Success)
    assert client.session(done.token)["user_id"] == registration_user(api, email)


def registration_user(api: Api, email: str) -> str:
    users = api.request("GET", f"/api/v1/org/{api.org}/users", params={"per_page": 100}).json()
    [found] = [u["id"] for u in users["data"] if u["email"] == email]
    return str(found)


def test_a_signed_in_user_may_register_for_their_own_identifier(
    api: Api, client: JourneyClient
) -> None:
    # The password proves who they are first: then the identifier names a verified user.
    journey = {
        "start": "password",
        "steps": [
            {"id": "password", "type": "password", "next": "register", "on_failure": "no"},
            {
                **SIGNUP["steps"][0],
                "on_failure": "no",
                "config": {
                    "user_auth_state": "not_authenticated",
                    "user_identifier": "input.username",
                },
            },
            *SIGNUP["steps"][1:3],
            {"id": "no", "type": "reject"},
        ],
    }
    publish(api, "proven", journey)
    user = api.create_user(password=PASSWORD)
    first = client.start("proven")
    assert isinstance(first, Step)
    registration = client.submit(first, {"username": user["email"], "password": PASSWORD})
    assert isinstance(registration, Step), registration
    assert registration.step_id == "TotpRegistration"
