"""Debian's Chromium driven by Playwright (async API, so it shares pytest-asyncio's loop), and
what a person does with it: read the QR code off the screen, type what the phone shows."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from playwright.async_api import Browser, Page

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"


async def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot under tests/e2e/screenshots/ (test output, not committed)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    # The card alone, small enough for the README (docs/screenshots/ holds copies).
    await page.locator("main").screenshot(path=str(SCREENSHOTS / f"{name}-card.png"))
    return path


async def read_qr(page: Page, tmp_path: Path) -> str:
    """The otpauth:// URI of the QR code on the page, decoded from a screenshot by zbarimg."""
    image = tmp_path / "qr.png"
    await page.locator(".qr").screenshot(path=str(image))
    zbarimg = await asyncio.create_subprocess_exec(
        "zbarimg", "--raw", "-q", str(image), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await zbarimg.communicate()
    assert zbarimg.returncode == 0, "zbarimg found no QR code"
    return out.decode().strip()


def oathtool(secret: str, periods_ahead: int = 0) -> str:
    """The code an authenticator app shows (``periods_ahead`` periods from now)."""
    done = subprocess.run(
        ["oathtool", "--totp", "-b", "-N", f"+{30 * periods_ahead} seconds", secret],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


async def new_page(browser: Browser, locale: str = "en-US") -> Page:
    """A fresh browser profile (its own cookies) at a desktop size."""
    context = await browser.new_context(locale=locale, viewport={"width": 1000, "height": 900})
    return await context.new_page()
