"""Texts: every error message has a Spanish and a French translation, chosen by Accept-Language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import twostep
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


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != "en"])
def test_every_catalogue_entry_is_translated(locale: str) -> None:
    """Every msgid of messages.pot has a translation in each language's catalogue."""
    from babel.messages.pofile import read_po

    locale_dir = Path(twostep.__file__).parent / "locale"
    with (locale_dir / "messages.pot").open("rb") as template:
        msgids = {m.id for m in read_po(template) if m.id}
    with (locale_dir / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        translated = {m.id: m.string for m in read_po(po) if m.id}
    missing = sorted(m for m in msgids if not translated.get(m))
    assert not missing, missing
    assert len(msgids) > 40


def raised_msgids() -> set[str]:
    """The texts handed to an error class anywhere in the code: literals, or module constants."""
    import ast

    names = {cls.__name__ for cls in error_classes()}
    found: set[str] = set()
    for path in Path(twostep.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                continue
            if call.func.id not in names or not call.args:
                continue
            first = call.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
            elif isinstance(first, ast.Name) and first.id in constants:
                found.add(constants[first.id])
    return found


def test_every_raised_text_is_in_the_catalogue() -> None:
    from babel.messages.pofile import read_po

    with (Path(twostep.__file__).parent / "locale" / "messages.pot").open("rb") as template:
        msgids = {m.id for m in read_po(template) if m.id}
    raised = raised_msgids()
    assert len(raised) > 20
    assert sorted(raised - msgids) == []


def test_i18n_is_a_leaf_that_imports_nothing_of_twostep() -> None:
    """Every layer may use i18n, so it may use none of them (the overrides' aliases come in)."""
    import ast

    import twostep.i18n

    tree = ast.parse(Path(twostep.i18n.__file__).read_text())
    imported = {
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert not {name for name in imported if name.split(".")[0] == "twostep"}


def test_without_overrides_every_locale_reads_the_catalogue() -> None:
    from twostep.i18n import load_overrides

    load_overrides(None, {})
    assert translate("en", errors.InvalidCode.default_msgid) == errors.InvalidCode.default_msgid
    assert translate("es", errors.InvalidCode.default_msgid) != errors.InvalidCode.default_msgid


def page_msgids() -> set[str]:
    """The texts of the templates (``_("...")``) and of the page modules (``translate``)."""
    web = Path(twostep.__file__).parent / "web"
    quoted = r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'"
    found: set[str] = set()
    for template in web.rglob("*.html"):
        for double, single in re.findall(rf"_\(\s*(?:{quoted})", template.read_text()):
            found.add(double or single)
    for module in (web / "pages").glob("*.py"):
        for double, single in re.findall(
            rf"translate\(\s*locale,\s*(?:{quoted})", module.read_text()
        ):
            found.add(double or single)
    return found


def test_every_page_text_is_in_the_catalogue() -> None:
    from babel.messages.pofile import read_po

    with (Path(twostep.__file__).parent / "locale" / "messages.pot").open("rb") as template:
        msgids = {m.id for m in read_po(template) if m.id}
    found = page_msgids()
    assert len(found) > 40
    assert sorted(found - msgids) == []


def test_page_aliases_name_page_texts() -> None:
    from twostep.web.texts import PAGE_ALIASES

    assert set(PAGE_ALIASES.values()) <= page_msgids()
