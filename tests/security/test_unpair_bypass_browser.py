"""The lock-unpair bypass in Chromium, as the issue found it (spec 3b.1, 3b.2): the password
alone on the default application's page must not sign in a user whose authenticator belongs
to another application, and a session without a fresh code is asked for one before the lock
is paired or unpaired."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect

from tests.e2e import conftest as e2e
from tests.e2e.browser import new_page, oathtool
from tests.e2e.test_pages import PASSWORD, secret_of, sign_in
from tests.server import Api, Server, new_organization

CODE_LABEL = "Code from your authenticator app, or a recovery code"

browser = e2e.browser  # the browser tests' Chromium, one per module


@pytest.fixture
def site(sqlite_server: Server) -> Server:
    return sqlite_server


@pytest.fixture
def org(site: Server) -> Iterator[Api]:
    api = new_organization(site)[0]
    patch = {"totp": {"valid_future_tokens": 5}, "lock": {"enabled": True}}
    assert api.patch_config(patch).status_code == 200
    yield api
    api.close()


def enroll(api: Api, user_id: str, client_id: str | None = None) -> str:
    """An active authenticator (of ``client_id``, else the default application); its secret."""
    params = {"application": client_id} if client_id else {}
    secret = secret_of(api.register(user_id, **params)["uri"])
    assert api.confirm(user_id, oathtool(secret), **params).status_code == 200
    return secret


def enrolled(api: Api, user_id: str, client_id: str) -> bool:
    shown = api.request("GET", api.user_path(user_id), params={"application": client_id})
    return bool(shown.json()["two_factor"]["enabled"])


async def test_the_password_alone_reaches_no_settings_page(
    browser: Browser, site: Server, org: Api
) -> None:
    shop = f"shop-{secrets.token_hex(3)}"
    created = org.request(
        "POST",
        f"/api/v1/org/{org.org}/applications",
        json={"client_id": shop, "name": "Shop", "redirect_uris": ["https://shop.example.test/cb"]},
    )
    assert created.status_code == 201, created.text
    user = org.create_user(password=PASSWORD)
    secret = enroll(org, user["id"], shop)

    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])
    await expect(
        page.get_by_label("Enter the code shown by your authenticator app.")
    ).to_be_visible()
    await page.goto(f"{site.base_url}/auth/two-factor")
    await expect(page.get_by_role("heading", name="Not signed in")).to_be_visible()
    assert enrolled(org, user["id"], shop)

    # With the Shop's code, the settings page lists that authenticator and says On.
    await sign_in(page, site, org, user["email"])
    await page.locator("#code").fill(oathtool(secret, 1))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_text("You are signed in.")).to_be_visible()
    await expect(page.locator(".badge")).to_have_text("On")
    await expect(page.locator(".state")).to_contain_text("Authenticator for Shop")


async def test_the_lock_asks_a_code_of_a_session_without_one(
    browser: Browser, site: Server, org: Api
) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])  # no authenticator yet: the password is all
    await expect(page.get_by_text("You are signed in.")).to_be_visible()
    secret = enroll(org, user["id"])  # then one is enrolled (by the tenant's backend)

    await page.reload()
    code_field = page.get_by_label(CODE_LABEL)
    await expect(code_field).to_be_visible()
    assert await code_field.get_attribute("autocomplete") == "one-time-code"
    await page.get_by_role("button", name="Pair a lock").click()
    await expect(page.get_by_role("alert")).to_contain_text("Confirm it is you first")
    assert org.request("GET", org.user_path(user["id"])).json()["lock"]["paired"] is False

    await page.get_by_label(CODE_LABEL).fill(oathtool(secret, 1))
    await page.get_by_role("button", name="Pair a lock").click()
    await expect(page.get_by_text("Lock: open")).to_be_visible()

    await page.get_by_label(CODE_LABEL).fill(oathtool(secret, 2))
    await page.get_by_role("button", name="Unpair (this also removes your authenticator)").click()
    await expect(page.get_by_role("button", name="Pair a lock")).to_be_visible()
    assert org.request("GET", org.user_path(user["id"])).json()["lock"]["paired"] is False
