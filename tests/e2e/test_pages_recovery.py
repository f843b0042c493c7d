"""The assurance floor, an admin's reset with a reason and new recovery codes from the
settings page (issue 12.3, 12.4, 12.6), in Chromium against a live server on both engines
whose fresh-factor window is two seconds, so that a test can outwait it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import ENGINES
from tests.e2e.browser import new_page, oathtool, read_qr
from tests.e2e.test_api_errors import assert_problem
from tests.e2e.test_pages import PASSWORD, enable_two_factor, enter_code, secret_of, sign_in
from tests.pg import PostgresServer
from tests.server import Api, Server, new_organization, running_server

REAUTH_S = 2


@pytest.fixture(scope="module", params=ENGINES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    database_url = None
    if request.param == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.new_database()
    data_dir: Path = tmp_path_factory.mktemp(f"recovery-{request.param}")
    with running_server(data_dir, database_url, TWOSTEP_REAUTH_S=str(REAUTH_S)) as live:
        yield live


@pytest.fixture
def org(site: Server) -> Iterator[Api]:
    api = new_organization(site)[0]
    # Each code a test types is a later period than the last: accept a few periods ahead.
    assert api.patch_config({"totp": {"valid_future_tokens": 5}}).status_code == 200
    yield api
    api.close()


def recovery_use(api: Api, user_id: str, code: str) -> int:
    response = api.request(
        "POST", api.user_path(user_id, "/recovery-codes/verify"), json={"code": code}
    )
    return response.status_code


async def test_new_recovery_codes_after_a_code_void_the_old_ones(
    browser: Browser, site: Server, org: Api, tmp_path: Path
) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])
    secret, old_codes = await enable_two_factor(page, tmp_path)
    await asyncio.sleep(REAUTH_S + 1)  # the session's second factor is stale now

    await page.get_by_role("link", name="New recovery codes").click()
    await expect(
        page.get_by_label("Enter the code shown by your authenticator app.")
    ).to_be_visible()
    await enter_code(page, oathtool(secret, 1))
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    new_codes = [c.strip() for c in await page.locator(".codes code").all_text_contents()]
    assert len(new_codes) == 5
    assert not set(new_codes) & set(old_codes)
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download as a .txt file").click()
    saved = await asyncio.to_thread(Path(await (await download_info.value).path()).read_text)
    assert all(code in saved for code in new_codes)
    await page.get_by_label("I have saved my recovery codes").check()
    await page.get_by_role("button", name="Continue").click()
    await expect(
        page.get_by_text("You have new recovery codes: the old ones no longer work.")
    ).to_be_visible()

    assert recovery_use(org, user["id"], old_codes[0]) == 400
    assert recovery_use(org, user["id"], new_codes[0]) == 200
    assert recovery_use(org, user["id"], new_codes[0]) == 400


async def test_enforce_keeps_the_last_authenticator_but_an_admin_resets_with_a_reason(
    browser: Browser, site: Server, org: Api, tmp_path: Path
) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])
    secret, _ = await enable_two_factor(page, tmp_path)
    assert org.patch_config({"totp": {"enforce": True}}).status_code == 200

    await page.get_by_role("link", name="Disable").click()
    await enter_code(page, oathtool(secret, 1))
    await expect(page.get_by_role("alert")).to_contain_text(
        "your only authenticator cannot be removed"
    )
    state = org.request("GET", org.user_path(user["id"])).json()["two_factor"]
    assert state["enabled"] is True

    # A new phone is allowed: the new key is confirmed before the old one goes.
    await page.goto(f"{site.base_url}/auth/two-factor")
    await asyncio.sleep(REAUTH_S + 1)  # stale: a code from the old phone first
    await page.get_by_role("link", name="Replace authenticator").click()
    await enter_code(page, oathtool(secret, 2))
    await expect(page.get_by_role("heading", name="Replace your authenticator")).to_be_visible()
    new_secret = secret_of(await read_qr(page, tmp_path))
    assert new_secret != secret
    await enter_code(page, oathtool(new_secret))
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    await page.get_by_label("I have saved my recovery codes").check()
    await page.get_by_role("button", name="Continue").click()
    await expect(
        page.get_by_text("Your new authenticator is on: the old one no longer works.")
    ).to_be_visible()
    assert_problem(org.verify(user["id"], oathtool(secret, 3)), 400, "invalid_code")
    assert org.verify(user["id"], oathtool(new_secret, 1)).status_code == 200

    reset = org.user_path(user["id"], "/totp")
    assert_problem(org.request("DELETE", reset), 422, "validation_error")
    assert_problem(org.request("DELETE", reset, json={"reason": " "}), 422, "validation_error")
    done = org.request("DELETE", reset, json={"reason": "lost phone, ticket 4711"})
    assert done.status_code == 204, done.text
    assert org.request("GET", org.user_path(user["id"])).json()["two_factor"]["enabled"] is False
    events = org.request(
        "GET", f"/api/v1/org/{org.org}/audit-events", params={"action": "totp.reset"}
    ).json()["data"]
    assert [e["details"] for e in events] == [{"reason": "lost phone, ticket 4711"}]


async def test_a_bypass_code_from_the_console_leads_the_user_into_enrollment(
    browser: Browser, site: Server, org: Api, tmp_path: Path
) -> None:
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, site, org, user["email"])
    await enable_two_factor(page, tmp_path)
    await page.get_by_role("button", name="Sign out").click()

    # Through the API: a reason is required; the code is in the answer and nowhere else.
    issue = org.user_path(user["id"], "/bypass-code")
    assert_problem(org.request("POST", issue, json={}), 422, "validation_error")
    by_api = org.request("POST", issue, json={"reason": "ticket 1"})
    assert by_api.status_code == 201, by_api.text
    assert set(by_api.json()) == {"code", "expires_at"}

    admin = await new_page(browser)
    await admin.goto(f"{site.base_url}/admin")
    await admin.get_by_label("API key").fill(org.key)
    await admin.get_by_role("button", name="Sign in").click()
    await admin.goto(f"{site.base_url}/admin/users/{user['id']}")
    await admin.get_by_label("Why the user needs it (kept in the audit trail)").fill("lost phone")
    await admin.get_by_role("button", name="Issue a one-time bypass code").click()
    await expect(admin.get_by_role("heading", name="One-time bypass code")).to_be_visible()
    code = (await admin.locator("#bypass-code").text_content() or "").strip()

    # The API's code was replaced by the console's.
    await sign_in(page, site, org, user["email"])
    await page.get_by_role("button", name="Use a recovery code").click()
    await page.get_by_label("Enter one of your recovery codes.").fill(by_api.json()["code"])
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await page.get_by_label("Enter one of your recovery codes.").fill(code)
    await page.get_by_role("button", name="Continue").click()
    await expect(
        page.get_by_role("heading", name="Set up two-factor authentication")
    ).to_be_visible()
    assert org.request("GET", org.user_path(user["id"])).json()["two_factor"]["enabled"] is False
    events = org.request(
        "GET", f"/api/v1/org/{org.org}/audit-events", params={"user": user["id"]}
    ).json()["data"]
    actions = [(e["action"], (e["details"] or {}).get("reason")) for e in events]
    assert ("totp.bypass_issue", "lost phone") in actions
    assert ("totp.bypass_issue", "ticket 1") in actions
    assert ("totp.bypass_use", None) in actions


def test_bypass_code_from_the_cli(site: Server, org: Api) -> None:
    user = org.create_user(password=PASSWORD)
    registration = org.register(user["id"])
    assert org.confirm(user["id"], oathtool(registration["secret"])).status_code == 200
    bare = site.cli("user", "bypass-code", "--org", str(org.org), user["email"], check=False)
    assert bare.returncode == 1
    assert "validation_error" in bare.stderr
    done = site.cli("user", "bypass-code", "--org", str(org.org), user["email"], "--reason", "x")
    assert done.stdout.startswith("bypass code: ")
    assert "once" in done.stdout
