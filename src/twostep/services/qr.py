"""QR codes of key URIs: SVG for pages and API answers, PNG for tests and downloads."""

from __future__ import annotations

import io
import math

import segno

__all__ = ["BORDER", "MIN_WIDTH_PX", "qr_png", "qr_svg"]


# Drawn at least this wide (CSS px) where there is room; a page may shrink it to fit.
MIN_WIDTH_PX = 220
BORDER = 4  # modules of quiet zone on each side (ISO/IEC 18004)


def qr_svg(uri: str) -> str:
    """An inline SVG (no XML declaration) of ``uri``, error correction M, that scales.

    It has a ``viewBox`` (so CSS can shrink it without cutting it), a size in whole pixels per
    module, a white quiet zone of four modules and crisp edges (no blurred module borders).
    """
    qr = segno.make(uri, error="m", micro=False)
    width, _ = qr.symbol_size(border=BORDER)
    out = io.BytesIO()
    qr.save(
        out,
        kind="svg",
        scale=max(4, math.ceil(MIN_WIDTH_PX / width)),
        border=BORDER,
        unit="px",  # with a unit, segno writes the viewBox next to the width and height
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgns=True,
        title="QR code",
    )
    svg = out.getvalue().decode("ascii")
    return svg.replace("<svg ", '<svg shape-rendering="crispEdges" ', 1)


def qr_png(uri: str, *, scale: int = 5) -> bytes:
    """A PNG of ``uri`` with ``scale`` pixels per module and the quiet zone."""
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(out, kind="png", scale=scale, border=BORDER)
    return out.getvalue()
