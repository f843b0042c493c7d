"""Remember this device (issue 12.2) on the hosted pages of a live server, on both engines:
"Trust this browser" after a good code sets an HttpOnly cookie; that browser then signs in
with the password alone, any other browser is asked the code; the user's settings page and
the admin console list trusted browsers and revoke them; the cookie never answers an mfa
``acr_values`` step-up nor the fresh code the lock asks; with the feature off there is no
checkbox and the cookie is ignored. And once in Chromium, as a person ticks the box."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.browser import new_page, oathtool
from tests.e2e.test_admin_console import csrf_of, signed_in
from tests.e2e.test_api_errors import totp_code
from tests.e2e.test_pages import enter_code, secret_of, sign_in
from tests.e2e.test_pages_safety import form_value
from tests.server import Api, Server, new_organization

PASSWORD = "correct horse battery staple"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
REDIRECT = "https://app.example.test/callback"
CODE_FIELD = 'autocomplete="one-time-code"'
DEVICE_FORM = re.compile(r'action="(/auth/two-factor/devices/[0-9a-f-]{36}/revoke)"')


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    client = new_organization(server)[0]
    patch = {
        "totp": {"valid_future_tokens": 5},
        "lock": {"enabled": True},
        "remember_device": {"days": 30},
    }
    assert client.patch_config(patch).status_code == 200
    yield client
    client.close()


def new_browser(server: Server) -> httpx.Client:
    """A cookie jar that says it is Firefox on Linux."""
    return httpx.Client(
        base_url=server.base_url,
        timeout=30,
        follow_redirects=False,
        headers={"User-Agent": FIREFOX},
    )


@pytest.fixture
def jar(server: Server) -> Iterator[httpx.Client]:
    """A browser without JavaScript, as Firefox on Linux."""
    with new_browser(server) as client:
        yield client


def enrolled_user(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    user = api.create_user(password=PASSWORD)
    registration = api.register(user["id"])
    assert api.confirm(user["id"], totp_code(registration)).status_code == 200
    return user, registration


def password(browser: httpx.Client, page: httpx.Response, email: str) -> httpx.Response:
    form = {
        "csrf": form_value(page.text, "csrf"),
        "step": "Password",
        "username": email,
        "password": PASSWORD,
    }
    return browser.post("/auth/journey", data=form)


def login(browser: httpx.Client, api: Api, email: str) -> httpx.Response:
    page = browser.get("/auth/login", params={"org": api.org})
    assert page.status_code == 200, page.text
    return password(browser, page, email)


def code(browser: httpx.Client, page: httpx.Response, value: str, trust: bool) -> httpx.Response:
    form = {"csrf": form_value(page.text, "csrf"), "step": "TotpAuthentication", "code": value}
    if trust:
        form["remember"] = "on"
    return browser.post("/auth/journey", data=form)


def trusted_browser(
    browser: httpx.Client, api: Api, user: dict[str, Any], reg: Any, steps: int = 1
) -> None:
    """Sign in with the code ``steps`` periods ahead and "Trust this browser for 30 days"
    ticked, then sign out."""
    asked = login(browser, api, user["email"])
    assert CODE_FIELD in asked.text
    assert "Trust this browser for 30 days" in asked.text
    done = code(browser, asked, totp_code(reg, steps), trust=True)
    assert done.status_code == 303, done.text
    cookie = next(c for c in done.headers.get_list("set-cookie") if "twostep_device=" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    max_age = re.search(r"Max-Age=([0-9]+)", cookie)
    assert max_age is not None
    assert 30 * 86400 - 10 <= int(max_age.group(1)) <= 30 * 86400
    browser.cookies.delete("twostep_session")


def signs_in_with_password(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and "twostep_session" in answer.cookies


def test_a_trusted_browser_asks_only_the_password(
    jar: httpx.Client, server: Server, api: Api
) -> None:
    user, registration = enrolled_user(api)
    trusted_browser(jar, api, user, registration)
    assert signs_in_with_password(login(jar, api, user["email"]))
    settings = jar.get("/auth/two-factor")
    assert "Trusted browsers" in settings.text
    assert "Firefox on Linux" in settings.text
    # Another browser has no cookie: it is asked the code, and its cookie would be useless.
    with new_browser(server) as other:
        assert CODE_FIELD in login(other, api, user["email"]).text
        other.cookies.set("twostep_device", secrets.token_urlsafe(32))
        assert CODE_FIELD in login(other, api, user["email"]).text


def test_a_stolen_cookie_is_useless_for_another_user(jar: httpx.Client, api: Api) -> None:
    ann, ann_phone = enrolled_user(api)
    bob, _ = enrolled_user(api)
    trusted_browser(jar, api, ann, ann_phone)
    assert CODE_FIELD in login(jar, api, bob["email"]).text


def test_the_user_revokes_a_browser_from_the_settings_page(jar: httpx.Client, api: Api) -> None:
    user, registration = enrolled_user(api)
    trusted_browser(jar, api, user, registration)
    assert signs_in_with_password(login(jar, api, user["email"]))
    settings = jar.get("/auth/two-factor")
    found = DEVICE_FORM.search(settings.text)
    assert found is not None, settings.text
    forged = jar.post(found.group(1), data={"csrf": "0" * 64})
    assert forged.headers["location"] == "/auth/two-factor?error=device"
    revoked = jar.post(found.group(1), data={"csrf": form_value(settings.text, "csrf")})
    assert revoked.headers["location"] == "/auth/two-factor?done=device"
    assert "That browser is no longer trusted." in jar.get(revoked.headers["location"]).text
    assert "Trusted browsers" not in jar.get("/auth/two-factor").text
    jar.cookies.delete("twostep_session")
    assert CODE_FIELD in login(jar, api, user["email"]).text


def test_the_admin_revokes_a_browser(jar: httpx.Client, server: Server, api: Api) -> None:
    user, registration = enrolled_user(api)
    trusted_browser(jar, api, user, registration)
    with httpx.Client(base_url=server.base_url, timeout=30) as console:
        signed_in(console, api)
        page = console.get(f"/admin/users/{user['id']}")
        assert "Firefox on Linux" in page.text
        action = re.search(r'action="(/admin/users/[^"]+/devices/[^"]+/revoke)"', page.text)
        assert action is not None
        done = console.post(action.group(1), data={"csrf": csrf_of(page)})
        assert done.headers["location"] == f"/admin/users/{user['id']}?done=device"
        shown = console.get(done.headers["location"]).text
        assert "No browser skips the code for this user." in shown
    assert CODE_FIELD in login(jar, api, user["email"]).text


@pytest.mark.parametrize("change", ["password", "reset"])
def test_a_change_of_trust_forgets_every_browser(jar: httpx.Client, api: Api, change: str) -> None:
    user, registration = enrolled_user(api)
    trusted_browser(jar, api, user, registration)
    if change == "password":
        changed = api.request("PATCH", api.user_path(user["id"]), json={"password": "x" * 20})
        assert changed.status_code == 200, changed.text
        assert api.request("PATCH", api.user_path(user["id"]), json={"password": PASSWORD})
    else:
        reset = api.request(
            "DELETE", api.user_path(user["id"], "/totp"), params={"reason": "lost phone"}
        )
        assert reset.status_code in (200, 204), reset.text
        registration = api.register(user["id"])
        assert api.confirm(user["id"], totp_code(registration)).status_code == 200
    assert CODE_FIELD in login(jar, api, user["email"]).text


def authorize(jar: httpx.Client, client_id: str, **extra: str) -> httpx.Response:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s1",
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        **extra,
    }
    return jar.get("/oauth/authorize", params=params)


def test_never_an_mfa_step_up_nor_a_fresh_factor(jar: httpx.Client, api: Api) -> None:
    user, registration = enrolled_user(api)
    trusted_browser(jar, api, user, registration)
    created = api.request(
        "POST",
        f"/api/v1/org/{api.org}/applications",
        json={"client_id": f"app-{secrets.token_hex(4)}", "redirect_uris": [REDIRECT]},
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    plain = password(jar, authorize(jar, client_id), user["email"])
    assert plain.status_code == 303, plain.text
    assert "code" in parse_qs(urlsplit(plain.headers["location"]).query)
    jar.cookies.delete("twostep_session")
    mfa = authorize(jar, client_id, acr_values="urn:twostep:acr:mfa")
    asked = password(jar, mfa, user["email"])
    assert CODE_FIELD in asked.text
    assert "Trust this browser" not in asked.text
    # Signed in by the device: unpairing the lock still asks a code (spec 3b.2).
    jar.cookies.clear()
    trusted_browser(jar, api, user, registration, steps=2)  # a new device
    assert signs_in_with_password(login(jar, api, user["email"]))
    # Single sign-on to the application from that session: the trusted browser answers too...
    sso = authorize(jar, client_id)
    assert sso.status_code == 303, sso.text
    assert "code" in parse_qs(urlsplit(sso.headers["location"]).query)
    # ...but never an mfa step-up of the session it signed in.
    assert CODE_FIELD in authorize(jar, client_id, acr_values="urn:twostep:acr:mfa").text
    settings = jar.get("/auth/two-factor")
    assert 'id="lock-code"' in settings.text
    csrf = form_value(settings.text, "csrf")
    paired = {"csrf": csrf, "action": "pair", "code": totp_code(registration, 3)}
    assert jar.post("/auth/two-factor/lock", data=paired).status_code == 303
    refused = jar.post("/auth/two-factor/lock", data={"csrf": csrf, "action": "unpair"})
    assert refused.status_code == 403  # a fresh code is required
    lock = api.request("GET", api.user_path(user["id"])).json()["lock"]
    assert lock["paired"] is True


def test_off_shows_no_checkbox_and_ignores_the_cookie(jar: httpx.Client, api: Api) -> None:
    user, registration = enrolled_user(api)
    trusted_browser(jar, api, user, registration)
    assert api.patch_config({"remember_device": {"days": 0}}).status_code == 200
    asked = login(jar, api, user["email"])
    assert CODE_FIELD in asked.text
    assert 'name="remember"' not in asked.text


async def test_trust_this_browser_in_chromium(browser: Browser, sqlite_server: Server) -> None:
    api = new_organization(sqlite_server)[0]
    patch = {"totp": {"valid_future_tokens": 5}, "remember_device": {"days": 14}}
    assert api.patch_config(patch).status_code == 200
    user = api.create_user(password=PASSWORD)
    registration = api.register(user["id"])
    secret = secret_of(registration["uri"])
    assert api.confirm(user["id"], oathtool(secret)).status_code == 200
    page = await new_page(browser)
    await sign_in(page, sqlite_server, api, user["email"])
    await page.get_by_label("Trust this browser for 14 days").check()
    await enter_code(page, oathtool(secret, 1))
    await expect(page.get_by_role("heading", name="Trusted browsers")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, sqlite_server, api, user["email"])  # the password alone
    await expect(page.get_by_role("heading", name="Trusted browsers")).to_be_visible()
    await page.get_by_role("button", name="Stop trusting").click()
    await expect(page.get_by_text("That browser is no longer trusted.")).to_be_visible()
    other = await new_page(browser)
    await sign_in(other, sqlite_server, api, user["email"])
    await expect(other.locator("#code")).to_be_visible()
    api.close()


def test_the_api_lists_and_revokes_trusted_browsers(
    jar: httpx.Client, server: Server, api: Api
) -> None:
    user, registration = enrolled_user(api)
    trusted_browser(jar, api, user, registration)
    listed = api.request("GET", api.user_path(user["id"], "/devices"))
    assert listed.status_code == 200, listed.text
    (device,) = listed.json()
    assert device["agent"] == "Firefox on Linux"
    assert set(device) == {"id", "agent", "created_at", "last_used_at", "expires_at"}
    other = new_organization(server)[0]
    assert other.request("GET", other.user_path(user["id"], "/devices")).status_code == 404
    stranger = other.request("DELETE", other.user_path(user["id"], f"/devices/{device['id']}"))
    assert stranger.status_code == 404
    other.close()
    path = api.user_path(user["id"], f"/devices/{device['id']}")
    assert api.request("DELETE", path).status_code == 204
    assert api.request("DELETE", path).json()["code"] == "not_found"
    assert api.request("GET", api.user_path(user["id"], "/devices")).json() == []
    assert CODE_FIELD in login(jar, api, user["email"]).text
