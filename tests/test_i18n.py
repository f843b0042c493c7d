"""Texts: every error message has a Spanish and a French translation, chosen by Accept-Language."""

from __future__ import annotations

import pytest

from twostep import errors
from twostep.i18n import LOCALES, negotiate, translate


def error_classes() -> list[type[errors.TwostepError]]:
    return [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.TwostepError)
    ]


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_error_detail_is_translated(cls: type[errors.TwostepError], locale: str) -> None:
    translated = translate(locale, cls.default_msgid, seconds=30, hours=24, field="email")
    assert translated != cls.default_msgid.format(seconds=30, hours=24, field="email")
    assert "{" not in translated


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("fr-CA", "fr"),
        ("de-DE, fr;q=0.5", "fr"),
        ("en;q=0.1, es;q=0.9", "es"),
        ("de", "en"),
        ("*", "en"),
        ("es;q=abc, fr", "fr"),
        ("\x00\xff" * 100, "en"),
    ],
)
def test_accept_language_negotiation(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_placeholders_are_filled_and_bad_ones_fall_back() -> None:
    assert translate("fr", "Too many wrong codes. Try again in {seconds} seconds.", seconds=60) == (
        "Trop de codes erronés. Réessayez dans 60 secondes."
    )
    assert translate("es", "Unknown msgid {x}") == "Unknown msgid {x}"
