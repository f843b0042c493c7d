"""The authorization endpoint's order of checks, PKCE input, ``max_age`` and failures that must
neither reach a client as a 500 nor hold a journey (spec 3b.5, issue 9 item 5).

The attacks: ``/oauth/authorize`` sent the browser to an over-long (or duplicated) raw
``redirect_uri`` before comparing it with the registered ones — an open redirect for any
organization's guessable default client; a malformed ``code_challenge`` passed it and the
login then ended in a 500 with the journey held for a minute; ``max_age`` signed a user
without a second factor in again without asking anything.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.test_api_errors import totp_code
from tests.e2e.test_pages_safety import form_value, sign_in
from tests.server import Api, Server
from tests.services.support import ACTOR, PASSWORD, enrolled_user, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.crypto import SecretBoxError
from twostep.journeys import runner
from twostep.journeys.runner import Rejection, StepAnswer, Success
from twostep.oauth.signin import AuthorizationRequest
from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.wiring import build_runtime

REDIRECT = "https://app.example.test/callback"
EVIL = "https://evil.example/"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


@pytest.fixture
def pages(server: Server) -> Iterator[httpx.Client]:
    """A browser without JavaScript: a cookie jar that never follows redirects."""
    with httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture
def client_id(api: Api) -> str:
    """A first-party application whose one registered redirect URI is ``REDIRECT``."""
    client_id = f"app-{secrets.token_hex(3)}"
    created = api.request(
        "POST",
        f"/api/v1/org/{api.org}/applications",
        json={"client_id": client_id, "redirect_uris": [REDIRECT]},
    )
    assert created.status_code == 201, created.text
    return client_id


def request_params(client_id: str, **extra: str) -> list[tuple[str, str]]:
    """A valid authorization request, then ``extra`` (which replaces what it names)."""
    params = {
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email",
        "state": "st-1",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    } | extra
    return list(params.items())


def assert_page_without_redirect(answer: httpx.Response) -> None:
    assert answer.status_code == 400, (answer.status_code, answer.headers.get("location"))
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    # Nothing on the page leads there either (its language links lead back to this server).
    assert 'href="https://evil' not in answer.text
    assert "http-equiv" not in answer.text


def sent_back(answer: httpx.Response) -> dict[str, list[str]]:
    """The query an error redirect carries to the application's registered redirect URI."""
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return parse_qs(urlsplit(location).query)


# -- the client and its redirect URI, before anything else ---------------------------------


def unheld_requests(org: str, client_id: str) -> dict[str, list[tuple[str, str]]]:
    """Requests whose client or redirect URI does not hold, each with a reason to redirect."""
    base = request_params(client_id)
    without = [(k, v) for k, v in base if k not in ("client_id", "redirect_uri")]
    long_evil = EVIL + "a" * 3000
    return {
        # The organization's default client is guessable; it has no redirect URI at all.
        "over-long, default client": [
            ("client_id", f"{org}-production"),
            ("redirect_uri", long_evil),
            *without,
        ],
        "over-long, registered client": [
            ("client_id", client_id),
            ("redirect_uri", long_evil),
            *without,
        ],
        "over-long, and a bad response_type": [
            ("client_id", client_id),
            ("redirect_uri", long_evil),
            ("response_type", "token"),
        ],
        "redirect_uri twice, evil last": [
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("redirect_uri", EVIL),
            *without,
        ],
        "redirect_uri twice, evil first": [
            ("client_id", client_id),
            ("redirect_uri", EVIL),
            ("redirect_uri", REDIRECT),
            *without,
        ],
        "client_id twice": [
            ("client_id", client_id),
            ("client_id", f"{org}-production"),
            ("redirect_uri", REDIRECT),
            *without,
        ],
        "unknown client": [("client_id", "nobody"), ("redirect_uri", EVIL), *without],
        "over-long client": [("client_id", "c" * 5000), ("redirect_uri", EVIL), *without],
        "no client": [("redirect_uri", EVIL), *without],
        "registered plus a path": [
            ("client_id", client_id),
            ("redirect_uri", REDIRECT + "/../../evil"),
            *without,
        ],
        "registered plus a query": [
            ("client_id", client_id),
            ("redirect_uri", REDIRECT + "?next=" + EVIL),
            *without,
        ],
        "registered plus a host": [
            ("client_id", client_id),
            ("redirect_uri", REDIRECT.replace("test/", "test.evil.example/")),
            *without,
        ],
        "not a URI": [("client_id", client_id), ("redirect_uri", "javascript:alert(1)")],
    }


def test_until_client_and_redirect_uri_hold_every_error_is_a_page(
    pages: httpx.Client, api: Api, client_id: str
) -> None:
    for name, params in unheld_requests(str(api.org), client_id).items():
        answer = pages.get("/oauth/authorize", params=params)
        try:
            assert_page_without_redirect(answer)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_once_they_hold_errors_go_back_to_the_registered_uri(
    pages: httpx.Client, client_id: str
) -> None:
    bad_type = sent_back(
        pages.get("/oauth/authorize", params=request_params(client_id, response_type="token"))
    )
    assert bad_type["error"] == ["unsupported_response_type"]
    assert bad_type["state"] == ["st-1"]
    twice = [*request_params(client_id), ("scope", "openid")]
    assert sent_back(pages.get("/oauth/authorize", params=twice))["error"] == ["invalid_request"]
    # A nonce no code could carry is refused now, not when the sign-in ends.
    control = request_params(client_id, nonce="n\x00")
    assert sent_back(pages.get("/oauth/authorize", params=control))["error"] == ["invalid_request"]
    # Parameters that are not OAuth's (the pages' language switch) may come as they like.
    other = [*request_params(client_id), ("lang", "es"), ("lang", "fr")]
    assert pages.get("/oauth/authorize", params=other).status_code == 200


# -- PKCE ----------------------------------------------------------------------------------

BAD_CHALLENGES = {
    "42 characters": {"code_challenge": "a" * 42},
    "44 characters (no S256 digest)": {"code_challenge": "a" * 44},
    "129 characters": {"code_challenge": "a" * 129},
    "a tilde (no S256 digest)": {"code_challenge": "a" * 42 + "~"},
    "a plus sign": {"code_challenge": "a" * 42 + "+"},
    "padding": {"code_challenge": "a" * 42 + "="},
    "a space": {"code_challenge": "a" * 21 + " " + "a" * 21},
    "non-ASCII": {"code_challenge": "é" * 43},
    "plain": {"code_challenge_method": "plain"},
    "no method": {"code_challenge_method": ""},
    "lower-case method": {"code_challenge_method": "s256"},
    "no challenge": {"code_challenge": ""},
}


@pytest.mark.parametrize("bad", BAD_CHALLENGES.values(), ids=BAD_CHALLENGES.keys())
def test_a_malformed_code_challenge_is_refused_at_authorize(
    pages: httpx.Client, client_id: str, bad: dict[str, str]
) -> None:
    params = [(k, v) for k, v in request_params(client_id, **bad) if v != ""]
    back = sent_back(pages.get("/oauth/authorize", params=params))
    assert back["error"] == ["invalid_request"]
    assert back["state"] == ["st-1"]
    assert "code" not in back


@pytest.mark.parametrize("challenge", ["A" * 43, "a-_" * 14 + "b"])
def test_well_formed_challenges_reach_the_sign_in(
    pages: httpx.Client, client_id: str, challenge: str
) -> None:
    answer = pages.get(
        "/oauth/authorize", params=request_params(client_id, code_challenge=challenge)
    )
    assert answer.status_code == 200, answer.headers.get("location")
    assert 'name="password"' in answer.text


# -- hostile input never gets a 5xx, never goes anywhere else --------------------------------

NASTY = ["\x00", "a\x00b", "\r\nX: y", "😀", "%00", "' OR 1=1", "<script>", "x" * 5000, " "]
AUTHORIZE_PARAMS = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "login_hint",
]


def test_hostile_authorize_parameters(pages: httpx.Client, client_id: str) -> None:
    for name in AUTHORIZE_PARAMS:
        for value in NASTY:
            params = [(k, v) for k, v in request_params(client_id) if k != name] + [(name, value)]
            twice = [*request_params(client_id), (name, value)]
            for query in (params, twice):
                answer = pages.get("/oauth/authorize", params=query)
                assert answer.status_code < 500, (name, value, answer.text)
                location = answer.headers.get("location")
                assert location is None or location.startswith(REDIRECT + "?"), (name, location)


@pytest.mark.parametrize(
    "raw",
    [
        "client_id=%ff%fe&redirect_uri=%ff",
        "%ff=%ff&client_id={c}&redirect_uri={r}",
        "client_id={c}&redirect_uri={r}&state=%ff%00&code_challenge=%ff",
        "client_id&redirect_uri",
        "client_id={c}" + "&" * 2000,
        "client_id={c}&redirect_uri={r};evil=1",
    ],
)
def test_hostile_raw_authorize_queries(pages: httpx.Client, client_id: str, raw: str) -> None:
    query = raw.replace("{c}", client_id).replace("{r}", REDIRECT.replace(":", "%3A"))
    answer = pages.get(f"/oauth/authorize?{query}")
    assert answer.status_code < 500, answer.text
    location = answer.headers.get("location")
    assert location is None or location.startswith(REDIRECT + "?"), location


def test_hostile_token_requests(pages: httpx.Client, client_id: str) -> None:
    verifier, challenge = pkce()
    for header in ["Basic", "Basic !!!", "Basic " + base64.b64encode(b"x" * 5000).decode()]:
        refused = pages.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": "x"},
            headers={"Authorization": header},
        )
        assert refused.status_code in (400, 401), refused.text
        assert "error" in refused.json()
    for bad_verifier in ["a" * 42, "a" * 129, verifier + "\x00", "é" * 43]:
        refused = pages.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "code": secrets.token_urlsafe(32),
                "redirect_uri": REDIRECT,
                "code_verifier": bad_verifier,
            },
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] in ("invalid_grant", "invalid_request")
    for body, kind in [
        (b"", "application/x-www-form-urlencoded"),
        (b"grant_type=authorization_code&client_id=a&client_id=b", None),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"grant_type=client_credentials", "application/x-www-form-urlencoded; charset=latin-1"),
        (b"grant_type=client_credentials", "multipart/form-data; boundary=x"),
    ]:
        headers = {"content-type": kind or "application/x-www-form-urlencoded"}
        refused = pages.post("/oauth/token", content=body, headers=headers)
        assert 400 <= refused.status_code < 500, (body, refused.text)
    assert challenge  # the pair is a real one: only the verifiers above were broken


# -- max_age re-authenticates a user without a second factor --------------------------------


def _code_flow(pages: httpx.Client, client_id: str, **extra: str) -> tuple[httpx.Response, str]:
    verifier, challenge = pkce()
    params = request_params(client_id, code_challenge=challenge, **extra)
    return pages.get("/oauth/authorize", params=params), verifier


def _id_token_claims(pages: httpx.Client, client_id: str, location: str, verifier: str) -> Any:
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = pages.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    payload = token.json()["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _password_form(page: httpx.Response, username: str, password: str) -> dict[str, str]:
    return {
        "csrf": form_value(page.text, "csrf"),
        "step": "Password",
        "username": username,
        "password": password,
    }


def test_max_age_asks_a_password_only_user_for_the_password_again(
    pages: httpx.Client, api: Api, client_id: str
) -> None:
    user = api.create_user(password=PASSWORD)
    other = api.create_user(password=PASSWORD)
    assert sign_in(pages, api, user["email"]).status_code == 303
    signed_in_at = time.time()

    # A recent enough sign-in is single sign-on: a code at once.
    recent, verifier = _code_flow(pages, client_id, max_age="3600")
    assert "code" in sent_back(recent)
    claims = _id_token_claims(pages, client_id, recent.headers["location"], verifier)
    assert claims["sub"] == user["id"]
    assert claims["auth_time"] <= signed_in_at

    time.sleep(1.1)  # auth_time counts whole seconds
    asked, verifier = _code_flow(pages, client_id, max_age="0")
    assert asked.status_code == 200, asked.headers.get("location")  # not a code: a page
    assert 'name="password"' in asked.text
    assert user["email"] in asked.text  # who is asked is filled in
    before = time.time()
    done = pages.post("/auth/journey", data=_password_form(asked, user["email"], PASSWORD))
    assert done.status_code == 303
    claims = _id_token_claims(pages, client_id, done.headers["location"], verifier)
    assert claims["sub"] == user["id"]
    assert claims["amr"] == ["pwd"]
    assert claims["auth_time"] >= int(before)

    # Re-authenticating is the same user's: another account's password is no answer.
    asked, _ = _code_flow(pages, client_id, max_age="0")
    swapped = pages.post("/auth/journey", data=_password_form(asked, other["email"], PASSWORD))
    back = parse_qs(urlsplit(swapped.headers.get("location", "")).query)
    assert "code" not in back


def test_max_age_is_never_answered_without_a_new_authentication(
    pages: httpx.Client, api: Api, client_id: str
) -> None:
    user = api.create_user(password=PASSWORD)
    assert sign_in(pages, api, user["email"]).status_code == 303
    # The organization's own login journey asks nothing of a signed-in user.
    lenient = {"start": "done", "steps": [{"id": "done", "type": "complete"}]}
    put = api.request("PUT", f"/api/v1/org/{api.org}/journeys/login", json=lenient)
    assert put.status_code == 200, put.text
    answer, _ = _code_flow(pages, client_id, max_age="0")
    back = sent_back(answer)
    assert "code" not in back
    assert back["error"] == ["access_denied"]


def test_max_age_asks_a_user_with_a_second_factor_only_for_a_code(
    pages: httpx.Client, api: Api, client_id: str
) -> None:
    user = api.create_user(password=PASSWORD)
    registration = api.register(user["id"], application=client_id)
    assert api.confirm(user["id"], totp_code(registration), application=client_id).is_success
    signed_in = sign_in(pages, api, user["email"])
    if 'name="code"' in signed_in.text:  # the sign-in page asked for the code as well
        done = pages.post(
            "/auth/journey",
            data={
                "csrf": form_value(signed_in.text, "csrf"),
                "step": "TotpAuthentication",
                "code": totp_code(registration, 1),
            },
        )
        assert done.status_code == 303
    asked, _ = _code_flow(pages, client_id, max_age="0")
    assert asked.status_code == 200, asked.headers.get("location")
    assert 'name="password"' not in asked.text
    assert 'name="code"' in asked.text


# -- a failed step never holds its journey ----------------------------------------------------


async def test_a_journey_in_flight_with_an_unchecked_challenge_ends_cleanly(
    runtime: Runtime,
) -> None:
    # Journeys started before authorize checked the challenge carry whatever was sent.
    env = await new_environment(runtime)
    await new_user(runtime, env, "ann@acme.test")
    authorization = AuthorizationRequest(
        client_id="acme-production",
        redirect_uri=REDIRECT,
        scope="openid",
        state="st-1",
        nonce=None,
        code_challenge="short",
        code_challenge_method="S256",
    )
    first = await runner.start_journey(
        runtime, ACTOR, "login", "acme-production", {}, authorization=authorization
    )
    assert isinstance(first, StepAnswer)
    answer = await runner.submit_answer(
        runtime, ACTOR, first.session, {"username": "ann@acme.test", "password": PASSWORD}
    )
    assert isinstance(answer, Rejection)
    assert answer.return_to is not None  # the refusal goes back to the application


@pytest.fixture
async def misconfigured_node(
    runtime: Runtime, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Runtime]:
    """Another server on the same database whose secrets file lacks the cluster's keys."""
    settings = Settings(
        data_dir=tmp_path / "other-node", database_url=runtime.settings.database_url
    )
    built = build_runtime(settings)
    node = dataclasses.replace(built, clock=clock, passwords=runtime.passwords)
    try:
        yield node
    finally:
        try:
            await node.http.aclose()
        finally:
            await node.db.dispose()


async def test_an_answer_that_fails_unexpectedly_does_not_hold_the_journey(
    runtime: Runtime, misconfigured_node: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)
    first = await runner.start_journey(runtime, ACTOR, "login", "acme-production", {})
    assert isinstance(first, StepAnswer)
    challenge = await runner.submit_answer(
        runtime, ACTOR, first.session, {"username": "ann@acme.test", "password": PASSWORD}
    )
    assert isinstance(challenge, StepAnswer)
    assert challenge.step_id == "TotpAuthentication"
    clock.advance(30)
    with pytest.raises(SecretBoxError):  # a 500 for that request, and the node's logs say why
        await runner.submit_answer(
            misconfigured_node, ACTOR, first.session, {"code": phone.code(clock)}
        )
    # At once, not a minute later, a well-configured node takes the same answer.
    done = await runner.submit_answer(runtime, ACTOR, first.session, {"code": phone.code(clock)})
    assert isinstance(done, Success)
