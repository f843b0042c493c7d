"""Texts a person sees: gettext catalogues read with Babel, chosen by Accept-Language."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LOCALE", "LOCALES", "negotiate", "translate"]

DEFAULT_LOCALE = "en"
LOCALES = ("en", "es", "fr")


@lru_cache(maxsize=len(LOCALES))
def _catalogue(locale: str) -> dict[str, str]:
    path = files("twostep") / "locale" / locale / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


@lru_cache(maxsize=512)
def negotiate(accept_language: str | None) -> str:
    """The best of our locales for an Accept-Language header (RFC 9110 12.5.4)."""
    if not accept_language:
        return DEFAULT_LOCALE
    preferred: list[tuple[float, str]] = []
    for part in accept_language.split(",")[:20]:
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if tag and tag != "*":
            preferred.append((weight, tag.replace("_", "-")))
    preferred.sort(key=lambda item: -item[0])
    try:
        found = Locale.negotiate([tag for _, tag in preferred], list(LOCALES), sep="-")
    except (UnknownLocaleError, ValueError):
        found = None
    return str(found.language) if found else DEFAULT_LOCALE


def translate(locale: str, msgid: str, **params: Any) -> str:
    """``msgid`` in ``locale`` (English when untranslated), with ``{name}`` placeholders filled."""
    text = _catalogue(locale).get(msgid, msgid) if locale != DEFAULT_LOCALE else msgid
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):
        return msgid
