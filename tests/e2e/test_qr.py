"""The registration's QR code decodes, with zbarimg, back to exactly the key URI: both the PNG
of ``qr_png`` and the returned ``qr_svg`` as a browser draws it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from tests.server import Server, new_organization
from twostep.services.qr import qr_png

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
]


def zbarimg(png: Path) -> list[str]:
    out = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def screenshot(svgs: list[str], tmp: Path) -> Path:
    """Chromium's rendering of the SVGs side by side, each scaled to 500 px."""
    cells = "".join(f"<div class='qr'>{svg}</div>" for svg in svgs)
    page = tmp / "qr.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'><style>body{margin:0;background:#fff;display:flex}"
        ".qr{width:500px;height:500px;margin:20px}.qr svg{width:500px;height:500px}</style>"
        f"<body>{cells}</body>",
        encoding="utf-8",
    )
    png = tmp / "qr.png"
    subprocess.run(
        [
            "chromium",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={540 * len(svgs)},540",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return png


@pytest.fixture
def registrations(sqlite_server: Server) -> Iterator[list[dict[str, Any]]]:
    """Two registrations: default parameters, and SHA512/8/60 s with a unicode issuer."""
    api, _ = new_organization(sqlite_server)
    with closing(api):
        plain = api.register(api.create_user(email="alice@example.test")["id"])
        patched = api.patch_config(
            {"totp": {"issuer": "Ünïcorn Bank ✓", "algorithm": "SHA512", "digits": 8, "period": 60}}
        )
        assert patched.status_code == 200, patched.text
        strong = api.register(api.create_user(email="bob+2fa@example.test")["id"])
        yield [plain, strong]


def test_uris_carry_the_parameters(registrations: list[dict[str, Any]]) -> None:
    plain, strong = registrations
    for registration, issuer, account, params in [
        (plain, None, "alice@example.test", ("SHA1", "6", "30")),
        (strong, "Ünïcorn Bank ✓", "bob+2fa@example.test", ("SHA512", "8", "60")),
    ]:
        parts = urlsplit(registration["uri"])
        assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
        label_issuer, _, label_account = unquote(parts.path[1:]).partition(":")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert label_account == account
        assert query["issuer"] == label_issuer
        if issuer is not None:
            assert label_issuer == issuer
        assert (query["algorithm"], query["digits"], query["period"]) == params
        assert query["secret"] == registration["secret"]
        assert "=" not in query["secret"]
        key = pyotp.parse_uri(registration["uri"])
        assert isinstance(key, pyotp.TOTP)
        assert (key.secret, key.digits, key.interval) == (
            registration["secret"],
            int(params[1]),
            int(params[2]),
        )


def test_qr_png_decodes_to_the_uri(registrations: list[dict[str, Any]], tmp_path: Path) -> None:
    for i, registration in enumerate(registrations):
        png = tmp_path / f"{i}.png"
        png.write_bytes(qr_png(registration["uri"]))
        assert zbarimg(png) == [registration["uri"]]


def test_returned_qr_svg_decodes_to_the_uri(
    registrations: list[dict[str, Any]], tmp_path: Path
) -> None:
    svgs = [r["qr_svg"] for r in registrations]
    for svg in svgs:
        assert svg.startswith("<svg")
        assert svg.rstrip().endswith("</svg>")
        assert "<script" not in svg.lower()
    decoded = zbarimg(screenshot(svgs, tmp_path))
    assert sorted(decoded) == sorted(r["uri"] for r in registrations)
