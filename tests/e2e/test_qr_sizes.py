"""The enrollment page's QR code scans at every size (issue 9, item 9): key URIs from the
shortest Twostep writes to about 300 characters (a long issuer, a long email), on a phone, a
tablet and a desktop, read off the screen by zbarimg, quiet zone included."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.browser import new_page, read_qr
from tests.e2e.test_pages import PASSWORD, sign_in
from tests.server import Server, new_organization

WIDTHS = [360, 768, 1280]
# (issuer, email, how long the key URI comes out). Every URI carries a 32-character secret
# and the three parameters, so the shortest is a little over 100 characters.
SIZES = [
    ("Acme", "al@a.io", range(100, 125)),
    ("NorthwindTradingCo20", "ann.lee@example.com", range(140, 180)),
    (
        "Northwind Trading Company International Holdings",
        "margaret.hamilton.software.engineering@apollo-guidance-computer.northwind.example.com",
        range(280, 320),
    ),
]


@pytest.mark.parametrize(("issuer", "email", "length"), SIZES, ids=["short", "medium", "long"])
async def test_the_page_qr_decodes_at_every_width(
    browser: Browser,
    sqlite_server: Server,
    tmp_path: Path,
    issuer: str,
    email: str,
    length: range,
) -> None:
    api = new_organization(sqlite_server)[0]
    try:
        patch = {"totp": {"issuer": issuer, "enforce": True}}
        assert api.patch_config(patch).status_code == 200
        api.create_user(email=email, password=PASSWORD)
        page = await new_page(browser)
        await sign_in(page, sqlite_server, api, email)
        await expect(
            page.get_by_role("heading", name="Set up two-factor authentication")
        ).to_be_visible()
        uri = await page.locator("a[href^='otpauth:']").get_attribute("href")
        assert uri is not None
        assert len(uri) in length, len(uri)
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 900})
            assert await read_qr(page, tmp_path) == uri, width
    finally:
        api.close()
