"""Attacks on the second factor through another application (spec 3b.1, 3b.2), over HTTP
against a real ``twostep serve`` on SQLite and PostgreSQL: the password alone must open no
application of an environment where the user has an authenticator, and a session without a
fresh second factor must not weaken it (pair, open or unpair the lock) without a code."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import ENGINES
from tests.e2e.test_api_errors import totp_code
from tests.e2e.test_pages_safety import form_value
from tests.pg import PostgresServer
from tests.server import Api, Server, new_organization, running_server
from twostep.client import JourneyClient, Rejection, Step, Success

PASSWORD = "correct horse battery staple"
REDIRECT = "https://app.example.test/callback"
REAUTH_S = 2


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A live server whose fresh-factor window is two seconds, so a test can outwait it."""
    database_url = None
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.new_database()
    data_dir: Path = tmp_path_factory.mktemp(f"reauth-{request.param}")
    with running_server(data_dir, database_url, TWOSTEP_REAUTH_S=str(REAUTH_S)) as live:
        yield live


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    client = new_organization(server)[0]
    # Each code a test types is a later period than the last: accept a few periods ahead.
    patch = {"totp": {"valid_future_tokens": 5}, "lock": {"enabled": True}}
    assert client.patch_config(patch).status_code == 200
    yield client
    client.close()


@pytest.fixture
def browser(server: Server) -> Iterator[httpx.Client]:
    """A cookie jar and nothing else: what an attacker's script does."""
    with httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False) as client:
        yield client


def new_application(api: Api) -> str:
    client_id = f"app-{secrets.token_hex(4)}"
    response = api.request(
        "POST",
        f"/api/v1/org/{api.org}/applications",
        json={"client_id": client_id, "redirect_uris": [REDIRECT]},
    )
    assert response.status_code == 201, response.text
    return client_id


def enroll(api: Api, user_id: str, client_id: str | None = None) -> dict[str, Any]:
    """An active authenticator of the user (for ``client_id``, else the default application)."""
    params = {"application": client_id} if client_id else {}
    registration = api.register(user_id, **params)
    confirmed = api.confirm(user_id, totp_code(registration), **params)
    assert confirmed.status_code == 200, confirmed.text
    return registration


def enrolled(api: Api, user_id: str, client_id: str | None = None) -> bool:
    params = {"application": client_id} if client_id else {}
    shown = api.request("GET", api.user_path(user_id), params=params)
    return bool(shown.json()["two_factor"]["enabled"])


def password_step(browser: httpx.Client, api: Api, email: str) -> httpx.Response:
    """The hosted sign-in page of the organization (its default application), password typed."""
    page = browser.get("/auth/login", params={"org": api.org})
    assert page.status_code == 200, page.text
    form = {
        "csrf": form_value(page.text, "csrf"),
        "step": "Password",
        "username": email,
        "password": PASSWORD,
    }
    return browser.post("/auth/journey", data=form)


def code_step(browser: httpx.Client, page: httpx.Response, code: str) -> httpx.Response:
    form = {"csrf": form_value(page.text, "csrf"), "step": "TotpAuthentication", "code": code}
    return browser.post("/auth/journey", data=form)


def lock(browser: httpx.Client, action: str, code: str | None = None) -> httpx.Response:
    settings = browser.get("/auth/two-factor")
    assert settings.status_code == 200, settings.text
    form = {"csrf": form_value(settings.text, "csrf"), "action": action}
    if code is not None:
        form["code"] = code
    return browser.post("/auth/two-factor/lock", data=form)


def lock_state(api: Api, user_id: str) -> dict[str, Any]:
    return dict(api.request("GET", api.user_path(user_id)).json()["lock"])


def test_the_password_alone_opens_no_other_application(browser: httpx.Client, api: Api) -> None:
    """The issue's attack: an authenticator on application B; the password on the default
    application's page; then pair and unpair the lock to delete every authenticator."""
    shop = new_application(api)
    user = api.create_user(password=PASSWORD)
    enroll(api, user["id"], shop)

    answer = password_step(browser, api, user["email"])
    settings = browser.get("/auth/two-factor")
    if settings.status_code == 200:  # signed in with the password alone: pair, then unpair
        csrf = form_value(settings.text, "csrf")
        for action in ("pair", "unpair"):
            browser.post("/auth/two-factor/lock", data={"csrf": csrf, "action": action})
    assert enrolled(api, user["id"], shop)
    # Asked for the code of the user's one authenticator, not signed in.
    assert answer.status_code == 200, answer.headers
    assert "twostep_session" not in answer.cookies
    assert 'autocomplete="one-time-code"' in answer.text
    assert settings.status_code == 401  # no session: "Not signed in"


def test_the_other_applications_code_signs_in(browser: httpx.Client, api: Api) -> None:
    shop = new_application(api)
    user = api.create_user(password=PASSWORD)
    registration = enroll(api, user["id"], shop)
    asked = password_step(browser, api, user["email"])
    done = code_step(browser, asked, totp_code(registration, 1))
    assert done.status_code == 303, done.text
    settings = browser.get("/auth/two-factor")
    assert settings.status_code == 200
    # The settings page lists the authenticator by application, and 2FA is on account-wide.
    assert shop in settings.text
    assert 'class="badge on"' in settings.text


def test_a_journey_never_completes_on_the_password_alone(api: Api) -> None:
    """Defence in depth: a published journey without a code step still issues no session."""
    published = api.request(
        "PUT",
        f"/api/v1/org/{api.org}/journeys/login",
        json={
            "start": "ask",
            "steps": [
                {"id": "ask", "type": "password", "next": "done", "on_failure": "no"},
                {"id": "done", "type": "complete"},
                {"id": "no", "type": "reject"},
            ],
        },
    )
    assert published.status_code == 200, published.text
    shop = new_application(api)
    protected = api.create_user(password=PASSWORD)
    enroll(api, protected["id"], shop)
    plain = api.create_user(password=PASSWORD)
    with JourneyClient(api.base_url, client_id=f"{api.org}-production") as journeys:
        first = journeys.start()
        assert isinstance(first, Step)
        refused = journeys.submit(first, {"username": protected["email"], "password": PASSWORD})
        assert isinstance(refused, Rejection), refused
        assert refused.error.code == "not_authenticated"
        # A user without an authenticator is still signed in with the password.
        first = journeys.start()
        assert isinstance(first, Step)
        done = journeys.submit(first, {"username": plain["email"], "password": PASSWORD})
        assert isinstance(done, Success)
        assert done.amr == ["pwd"]


def _authorize(browser: httpx.Client, client_id: str) -> httpx.Response:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return browser.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "s1",
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        },
    )


def password_only_session(browser: httpx.Client, api: Api) -> tuple[dict[str, Any], str]:
    """A session signed in with the password (the user had no authenticator then), after which
    the user enrolled one on another application; returns the user and that application."""
    user = api.create_user(password=PASSWORD)
    assert password_step(browser, api, user["email"]).status_code == 303
    shop = new_application(api)
    enroll(api, user["id"], shop)
    return user, shop


def test_single_sign_on_needs_the_second_factor_too(browser: httpx.Client, api: Api) -> None:
    _, shop = password_only_session(browser, api)
    elsewhere = new_application(api)  # the user has no authenticator of its own here
    for client_id in (elsewhere, shop):
        answer = _authorize(browser, client_id)
        location = answer.headers.get("location", "")
        assert "code" not in parse_qs(urlsplit(location).query), client_id
        assert answer.status_code == 200, (client_id, answer.status_code, location)
        assert 'autocomplete="one-time-code"' in answer.text


@pytest.mark.parametrize("stale", [False, True])
def test_lock_changes_need_a_fresh_code(browser: httpx.Client, api: Api, stale: bool) -> None:
    """A session signed in with the password alone, or with a code older than
    TWOSTEP_REAUTH_S, is asked for a code before pairing or unpairing; with it, it happens in
    the same request. Closing needs nothing more than the session."""
    user = api.create_user(password=PASSWORD)
    if stale:
        registration = enroll(api, user["id"])
        asked = password_step(browser, api, user["email"])
        assert code_step(browser, asked, totp_code(registration, 1)).status_code == 303
        time.sleep(REAUTH_S + 1)
        step = 2
    else:
        assert password_step(browser, api, user["email"]).status_code == 303
        registration = enroll(api, user["id"])
        step = 1

    refused = lock(browser, "pair")
    assert refused.status_code == 403, refused.text
    assert 'autocomplete="one-time-code"' in refused.text
    assert lock_state(api, user["id"])["paired"] is False
    wrong = lock(browser, "pair", "000000" if totp_code(registration, step) != "000000" else "1")
    assert wrong.status_code in (400, 403)
    assert lock_state(api, user["id"])["paired"] is False
    assert lock(browser, "pair", totp_code(registration, step)).status_code == 303
    assert lock_state(api, user["id"])["paired"] is True

    # The code just spent does not serve twice.
    assert lock(browser, "unpair", totp_code(registration, step)).status_code in (400, 403)
    assert lock_state(api, user["id"])["paired"] is True
    assert enrolled(api, user["id"])
    assert lock(browser, "unpair", totp_code(registration, step + 1)).status_code == 303
    assert lock_state(api, user["id"])["paired"] is False
