"""The hosted pages in Chromium, as a person uses them: the whole life of a user (sign in,
enable 2FA by QR code, save the recovery codes, sign in with a code and with a recovery code,
get it wrong, get locked out, disable 2FA), enforced enrollment at first login, a Spanish
browser, a theme. Screenshots of every page land in tests/e2e/screenshots/."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.browser import new_page, oathtool, read_qr, shoot
from tests.server import Api, Server, new_organization, running_server

PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(sqlite_server: Server) -> Server:
    """The pages are one engine's business as much as the other's: SQLite serves them here."""
    return sqlite_server


@pytest.fixture
def org(site: Server) -> Iterator[Api]:
    api = new_organization(site)[0]
    # Each code a test types is a later period than the last (replay is refused); accept up
    # to five periods ahead so the test need not wait for the clock.
    assert api.patch_config({"totp": {"valid_future_tokens": 5}}).status_code == 200
    yield api
    api.close()


async def sign_in(page: Page, site: Server, api: Api, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{site.base_url}/auth/login?org={api.org}")
    await page.get_by_label("Email or username").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Continue").click()


async def enter_code(page: Page, code: str) -> None:
    await page.locator("#code").fill(code)
    await page.locator("form:not(.alternative) button[type=submit]").click()


def secret_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["secret"][0]


async def enable_two_factor(
    page: Page, tmp_path: Path, *, shots: bool = False
) -> tuple[str, list[str]]:
    """From the settings page: the QR code read off the screen, the first code, the saved
    recovery codes (downloaded as .txt); returns the key's secret and the codes."""
    await page.get_by_role("link", name="Enable").click()
    await expect(
        page.get_by_role("heading", name="Set up two-factor authentication")
    ).to_be_visible()
    if shots:
        await shoot(page, "enrollment")
    uri = await read_qr(page, tmp_path)
    assert uri.startswith("otpauth://totp/")
    link = await page.get_by_role(
        "link", name="Open in an authenticator app on this device"
    ).get_attribute("href")
    assert link == uri
    secret = secret_of(uri)
    shown = (await page.locator(".secret code").text_content() or "").replace(" ", "")
    assert shown == secret
    code_field = page.locator("#code")
    assert await code_field.get_attribute("autocomplete") == "one-time-code"
    assert await code_field.get_attribute("inputmode") == "numeric"
    await enter_code(page, oathtool(secret))
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    if shots:
        await shoot(page, "recovery-codes")
    codes = [c.strip() for c in await page.locator(".codes code").all_text_contents()]
    assert len(codes) == 5
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download as a .txt file").click()
    download = await download_info.value
    assert download.suggested_filename == "recovery-codes.txt"
    saved = await asyncio.to_thread(Path(await download.path()).read_text)
    assert all(code in saved for code in codes)
    # Continuing without saying they were saved is not possible.
    await page.get_by_label("I have saved my recovery codes").check()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_text("Two-factor authentication is on.")).to_be_visible()
    return secret, codes


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()


async def test_the_whole_life_of_a_user(
    browser: Browser, site: Server, org: Api, tmp_path: Path
) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await page.goto(f"{site.base_url}/auth/login?org={org.org}")
    await shoot(page, "login")
    await sign_in(page, site, org, user["email"], "wrong password")
    await expect(page.get_by_role("alert")).to_have_text("The username or password is not correct.")
    await sign_in(page, site, org, user["email"])
    await expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    await expect(page.locator(".badge")).to_have_text("Off")
    await shoot(page, "two-factor-off")

    secret, codes = await enable_two_factor(page, tmp_path, shots=True)
    await expect(page.locator(".badge")).to_have_text("On")
    await shoot(page, "two-factor-on")
    assert org.request("GET", org.user_path(user["id"])).json()["two_factor"]["enabled"] is True
    await sign_out(page)

    # With a code from the phone.
    await sign_in(page, site, org, user["email"])
    await expect(
        page.get_by_label("Enter the code shown by your authenticator app.")
    ).to_be_visible()
    await shoot(page, "code")
    await enter_code(page, "000000" if oathtool(secret, 1) != "000000" else "111111")
    await expect(page.get_by_role("alert")).to_have_text("The code is not valid.")
    await shoot(page, "code-wrong")
    await enter_code(page, oathtool(secret, 1))
    await expect(page.get_by_text("You are signed in.")).to_be_visible()
    await sign_out(page)

    # With a recovery code instead.
    await sign_in(page, site, org, user["email"])
    await page.get_by_role("button", name="Use a recovery code").click()
    await shoot(page, "recovery-code")
    await page.get_by_label("Enter one of your recovery codes.").fill(codes[0].upper())
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_text("You are signed in.")).to_be_visible()
    await expect(page.locator(".state")).to_contain_text("4")

    # Disable: a current code confirms.
    await page.get_by_role("link", name="Disable").click()
    await shoot(page, "disable")
    await enter_code(page, oathtool(secret, 2))
    await expect(page.get_by_text("Two-factor authentication is off.")).to_be_visible()
    await expect(page.locator(".badge")).to_have_text("Off")
    assert org.request("GET", org.user_path(user["id"])).json()["two_factor"]["enabled"] is False

    # Signing out really ends the session: the settings page no longer opens with the cookie.
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "twostep_session")
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    await sign_out(page)
    await page.context.add_cookies([session])  # as if the old cookie had been kept
    await page.goto(f"{site.base_url}/auth/two-factor")
    await expect(page.get_by_role("heading", name="Not signed in")).to_be_visible()


async def test_a_lockout_shows_the_wait(
    browser: Browser, site: Server, org: Api, tmp_path: Path
) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])
    secret, _ = await enable_two_factor(page, tmp_path)
    await sign_out(page)
    await sign_in(page, site, org, user["email"])
    wrong = next(
        c
        for c in ("000000", "111111", "222222")
        if c not in {oathtool(secret, k) for k in range(-2, 7)}
    )
    for _ in range(5):
        await enter_code(page, wrong)
        await expect(page.get_by_role("alert")).to_have_text("The code is not valid.")
    await enter_code(page, wrong)  # the sixth is not even looked at
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"Too many wrong codes\. Try again in \d+ seconds\.")
    )
    await shoot(page, "locked-out")
    # Even the right code is refused while locked.
    await enter_code(page, oathtool(secret, 1))
    await expect(page.get_by_role("alert")).to_contain_text("Too many wrong codes")


async def test_enforced_enrollment_at_first_login(
    browser: Browser, site: Server, org: Api, tmp_path: Path
) -> None:
    assert org.patch_config({"totp": {"enforce": True}}).status_code == 200
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])
    await expect(
        page.get_by_role("heading", name="Set up two-factor authentication")
    ).to_be_visible()
    secret = secret_of(await read_qr(page, tmp_path))
    await enter_code(page, "12345" + ("0" if oathtool(secret)[-1] != "0" else "1"))
    # A wrong first code: the page asks again.
    await expect(page.get_by_role("alert")).to_have_text("The code is not valid.")
    await enter_code(page, oathtool(secret))
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    await page.get_by_label("I have saved my recovery codes").check()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_text("You are signed in.")).to_be_visible()
    await expect(page.locator(".badge")).to_have_text("On")


async def test_a_spanish_browser_sees_spanish(browser: Browser, site: Server, org: Api) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser, locale="es-ES")
    await page.goto(f"{site.base_url}/auth/login?org={org.org}")
    await expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    assert await page.locator("html").get_attribute("lang") == "es"
    await page.get_by_label("Correo o usuario").fill(user["email"])
    await page.get_by_label("Contraseña").fill("nope")
    await page.get_by_role("button", name="Continuar").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "El usuario o la contraseña no son correctos."
    )
    await shoot(page, "login-es")
    # The switcher: French, remembered for the next page.
    await page.get_by_role("link", name="Français").click()
    await expect(page.get_by_role("heading", name="Se connecter")).to_be_visible()
    await page.goto(f"{site.base_url}/auth/login?org={org.org}")
    await expect(page.get_by_role("heading", name="Se connecter")).to_be_visible()


async def test_the_theme_shows(browser: Browser, site: Server, org: Api) -> None:
    theme: dict[str, Any] = {
        "title": "Acme Login",
        "brand": "Acme Corporation",
        "style_url": "/static/twostep.css?acme",
        "logo_url": "/static/logo.svg",
    }
    assert org.patch_config({"theme": theme}).status_code == 200
    page = await new_page(browser)
    response = await page.goto(f"{site.base_url}/auth/login?org={org.org}")
    assert response is not None
    await expect(page).to_have_title("Sign in · Acme Login")
    await expect(page.locator(".brand-name")).to_have_text("Acme Corporation")
    assert await page.locator('link[href="/static/twostep.css?acme"]').count() == 1
    logo = page.get_by_role("img", name="Acme Corporation")
    await expect(logo).to_be_visible()
    assert await logo.evaluate("image => image.naturalWidth") > 0  # it loaded: CSP allows it
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    await shoot(page, "login-themed")


async def test_the_admin_resets_a_user(
    browser: Browser, site: Server, org: Api, tmp_path: Path
) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])
    await enable_two_factor(page, tmp_path)
    await sign_out(page)

    admin = await new_page(browser)
    await admin.goto(f"{site.base_url}/admin")
    await shoot(admin, "admin-sign-in")
    await admin.get_by_label("API key").fill(org.key)
    await admin.get_by_role("button", name="Sign in").click()
    await admin.get_by_label("Search").fill(user["email"][:8])
    await admin.get_by_role("button", name="Search").click()
    row = admin.locator("tbody tr", has_text=user["email"])
    await expect(row).to_contain_text("On")
    await shoot(admin, "admin-users")
    await row.get_by_role("link", name=user["email"]).click()
    await shoot(admin, "admin-user")
    await admin.get_by_label("Reason (kept in the audit trail)").fill("lost phone")
    await admin.get_by_role("button", name="Reset two-factor").click()
    await expect(admin.locator(".notice")).to_be_visible()
    assert org.request("GET", org.user_path(user["id"])).json()["two_factor"]["enabled"] is False
    await admin.get_by_role("link", name="Auth config").click()
    await shoot(admin, "admin-config")

    # The user signs in with the password alone now, and can enroll again.
    await sign_in(page, site, org, user["email"])
    await expect(page.locator(".badge")).to_have_text("Off")


async def test_an_xml_dictionary_changes_what_the_pages_say(
    browser: Browser, tmp_path: Path
) -> None:
    overrides = tmp_path / "texts"
    overrides.mkdir()
    (overrides / "en.xml").write_text(
        "<translations><totp><invalidcode>That code did not work, try the next one.</invalidcode>"
        "<tooltip><code>Type the 6 digits from your phone</code></tooltip></totp></translations>"
    )
    with running_server(tmp_path / "data", TWOSTEP_TRANSLATIONS_DIR=str(overrides)) as server:
        api = new_organization(server)[0]
        user = api.create_user(password=PASSWORD)
        page = await new_page(browser)
        await sign_in(page, server, api, user["email"])
        await enable_two_factor(page, tmp_path)
        await sign_out(page)
        await sign_in(page, server, api, user["email"])
        await expect(page.get_by_label("Type the 6 digits from your phone")).to_be_visible()
        await enter_code(page, "00000a")
        await expect(page.get_by_role("alert")).to_have_text(
            "That code did not work, try the next one."
        )
        await shoot(page, "code-wrong-overridden")
        api.close()
