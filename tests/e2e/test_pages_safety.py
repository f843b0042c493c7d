"""What the hosted pages refuse, driven without a browser (no JavaScript is ever needed):
forms without their CSRF token, open redirects, stale forms, sessions that ended."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_api_errors import enroll
from tests.server import Api, Server

PASSWORD = "correct horse battery staple"


def form_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} in the page"
    return found.group(1)


@pytest.fixture
def browser(server: Server) -> Iterator[httpx.Client]:
    """A cookie jar and nothing else: what a browser without JavaScript does."""
    with httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False) as client:
        yield client


def sign_in(browser: httpx.Client, api: Api, email: str, next: str | None = None) -> httpx.Response:
    params = {"org": api.org} | ({"next": next} if next else {})
    page = browser.get("/auth/login", params=params)
    assert page.status_code == 200, page.text
    form = {
        "csrf": form_value(page.text, "csrf"),
        "step": "Password",
        "username": email,
        "password": PASSWORD,
    }
    return browser.post("/auth/journey", data=form)


def test_forms_need_their_csrf_token(browser: httpx.Client, api: Api) -> None:
    user = api.create_user(password=PASSWORD)
    page = browser.get("/auth/login", params={"org": api.org})
    form = {"csrf": "forged", "step": "Password", "username": user["email"], "password": PASSWORD}
    refused = browser.post("/auth/journey", data=form)
    assert refused.status_code == 403
    assert "twostep_session" not in refused.cookies
    form["csrf"] = form_value(page.text, "csrf")
    assert browser.post("/auth/journey", data=form).status_code == 303

    settings = browser.get("/auth/two-factor")
    assert settings.status_code == 200
    # Signing out without the page's token does nothing.
    forged = browser.post("/auth/logout", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert "twostep_session" not in forged.headers.get("set-cookie", "")
    assert browser.get("/auth/two-factor").status_code == 200
    assert (
        browser.post("/auth/two-factor/lock", data={"csrf": "forged", "action": "pair"}).status_code
        == 403
    )
    assert api.request("GET", api.user_path(user["id"])).json()["lock"]["paired"] is False


def test_no_open_redirects(browser: httpx.Client, api: Api) -> None:
    user = api.create_user(password=PASSWORD)
    for target in [
        "https://evil.test/",
        "//evil.test/x",
        "/\\evil.test",
        "javascript:alert(1)",
        "http:/evil",
    ]:
        done = sign_in(browser, api, user["email"], next=target)
        assert done.status_code == 303
        assert done.headers["location"].startswith("/auth/two-factor"), target
    done = sign_in(browser, api, user["email"], next="/auth/two-factor?from=app")
    assert done.headers["location"] == "/auth/two-factor?from=app"


def test_session_cookies_and_headers(browser: httpx.Client, api: Api) -> None:
    user = api.create_user(password=PASSWORD)
    done = sign_in(browser, api, user["email"])
    cookie = next(
        h for h in done.headers.get_list("set-cookie") if h.startswith("twostep_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http://127.0.0.1: a Secure cookie would never come back
    page = browser.get("/auth/two-factor")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none'
    assert "<script" not in page.text


def test_a_stale_or_replayed_form_is_not_applied_twice(browser: httpx.Client, api: Api) -> None:
    user, _, _ = enroll(api, password=PASSWORD)
    page = browser.get("/auth/login", params={"org": api.org})
    form = {
        "csrf": form_value(page.text, "csrf"),
        "step": "Password",
        "username": user["email"],
        "password": PASSWORD,
    }
    challenge = browser.post("/auth/journey", data=form)
    assert "Two-factor authentication" in challenge.text
    # The password form sent again (a browser "resend") shows the step the journey is at.
    again = browser.post("/auth/journey", data=form)
    assert again.status_code == 200
    assert 'name="step" value="TotpAuthentication"' in again.text
    assert browser.get("/auth/journey").status_code == 200


def test_the_pages_need_a_known_organization(browser: httpx.Client) -> None:
    assert browser.get("/auth/login", params={"org": "no-such-org"}).status_code == 404
    assert browser.get("/auth/login").status_code == 422
    nobody = browser.get("/auth/two-factor")
    assert nobody.status_code == 401
    assert "Not signed in" in nobody.text
    assert browser.get("/auth/journey").status_code == 410
