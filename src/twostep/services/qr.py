"""QR codes of key URIs: SVG for pages and API answers, PNG for tests and downloads."""

from __future__ import annotations

import io

import segno

__all__ = ["qr_png", "qr_svg"]


def qr_svg(uri: str) -> str:
    """An inline SVG (no XML declaration) of ``uri``, error correction M."""
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True, title="QR code"
    )
    return out.getvalue().decode("ascii")


def qr_png(uri: str, *, scale: int = 5) -> bytes:
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
