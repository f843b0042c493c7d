"""Operator overrides of texts (spec 7): per locale, from ``<locale>.json`` or ``<locale>.xml``
files in a directory, keyed by alias or msgid; any doubtful file is refused with its name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.e2e.test_readme import readme_block
from twostep import errors
from twostep.i18n import (
    LOCALES,
    MAX_OVERRIDE_FILE_BYTES,
    Texts,
    current_texts,
    load_overrides,
    translate,
)
from twostep.web.runtime_state import RuntimeTexts
from twostep.web.texts import ALIASES

INVALID = errors.InvalidCode.default_msgid
DISABLED = errors.OperationDisabled.default_msgid
LOCKED_OUT = errors.LockedOut.default_msgid
RECOVERY_INVALID = errors.RecoveryCodeInvalid.default_msgid


def catalogue(locale: str, msgid: str, **params: object) -> str:
    """The text without overrides."""
    return translate(locale, msgid, **params)


def write(directory: Path, name: str, content: str | bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def write_json(directory: Path, name: str, document: object) -> Path:
    return write(directory, name, json.dumps(document, ensure_ascii=False))


# -- what overrides do ---------------------------------------------------------------------


def test_flat_json_keys_override_one_locale(tmp_path: Path) -> None:
    french = catalogue("fr", INVALID)
    write_json(tmp_path, "es.json", {"totp.invalidcode": "Ese código no sirve."})
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", INVALID) == "Ese código no sirve."
    assert texts.translate("fr", INVALID) == french
    assert texts.translate("en", INVALID) == INVALID
    # Other texts of the same locale keep the catalogue's translation.
    assert texts.translate("es", DISABLED) == catalogue("es", DISABLED)


def test_nested_json_is_flattened_with_dots(tmp_path: Path) -> None:
    write_json(
        tmp_path,
        "fr.json",
        {"totp": {"invalidcode": "Code refusé.", "operationdisabled": "2FA coupée."}},
    )
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("fr", INVALID) == "Code refusé."
    assert texts.translate("fr", DISABLED) == "2FA coupée."


def test_xml_dictionary_of_mib_lockserver_shape(tmp_path: Path) -> None:
    write(
        tmp_path,
        "es.xml",
        """<?xml version="1.0" encoding="UTF-8"?>
<translations>
  <!-- a comment is fine -->
  <totp>
    <invalidcode>
      El código no vale.
    </invalidcode>
    <operationdisabled>El doble factor está apagado &amp; punto.</operationdisabled>
  </totp>
</translations>
""",
    )
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", INVALID) == "El código no vale."
    assert texts.translate("es", DISABLED) == "El doble factor está apagado & punto."


def test_a_key_may_be_the_msgid_itself(tmp_path: Path) -> None:
    write_json(tmp_path, "fr.json", {RECOVERY_INVALID: "Code de secours refusé."})
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("fr", RECOVERY_INVALID) == "Code de secours refusé."


def test_a_msgid_of_the_catalogue_without_an_alias_can_be_overridden(tmp_path: Path) -> None:
    write_json(tmp_path, "es.json", {"Something went wrong on our side.": "Fallo nuestro."})
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", "Something went wrong on our side.") == "Fallo nuestro."


def test_errors_aliases_and_the_callers_own_aliases(tmp_path: Path) -> None:
    write_json(
        tmp_path,
        "es.json",
        {"errors": {"invalid_code": "Mal código."}, "totp.tooltip.code": "Seis cifras."},
    )
    texts = load_overrides(tmp_path, {**ALIASES, "totp.tooltip.code": "Enter the six digits."})
    assert texts.translate("es", INVALID) == "Mal código."
    assert texts.translate("es", "Enter the six digits.") == "Seis cifras."


def test_placeholders_are_kept_and_may_be_dropped(tmp_path: Path) -> None:
    write_json(tmp_path, "es.json", {"totp.lockedout": "Espere {seconds} s, por favor."})
    write(
        tmp_path,
        "fr.xml",
        "<translations><totp><lockedout>Patientez un peu.</lockedout></totp></translations>",
    )
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", LOCKED_OUT, seconds=42) == "Espere 42 s, por favor."
    assert texts.translate("fr", LOCKED_OUT, seconds=42) == "Patientez un peu."


def test_literal_braces_are_written_doubled(tmp_path: Path) -> None:
    write_json(tmp_path, "es.json", {"totp.lockedout": "Espere {seconds} s {{máx}}."})
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", LOCKED_OUT, seconds=5) == "Espere 5 s {máx}."


def test_english_can_be_overridden_too(tmp_path: Path) -> None:
    write_json(tmp_path, "en.json", {"totp": {"operationdisabled": "2FA is off for now."}})
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("en", DISABLED) == "2FA is off for now."
    assert texts.translate("es", DISABLED) == catalogue("es", DISABLED)


def test_json_and_xml_of_one_locale_add_up(tmp_path: Path) -> None:
    write_json(tmp_path, "es.json", {"totp.invalidcode": "Uno."})
    write(
        tmp_path,
        "es.xml",
        "<translations><totp><codereused>Dos.</codereused></totp></translations>",
    )
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", INVALID) == "Uno."
    assert texts.translate("es", errors.CodeReused.default_msgid) == "Dos."


def test_clearing_and_reloading_replace_every_override(tmp_path: Path) -> None:
    spanish = catalogue("es", INVALID)
    first, second = tmp_path / "first", tmp_path / "second"
    write_json(first, "es.json", {"totp.invalidcode": "Uno."})
    write_json(second, "es.json", {"totp.operationdisabled": "Dos."})
    texts = load_overrides(first, ALIASES)
    assert texts.translate("es", INVALID) == "Uno."
    texts = load_overrides(second, ALIASES)
    assert texts.translate("es", INVALID) == spanish
    assert texts.translate("es", DISABLED) == "Dos."
    texts = load_overrides(None, ALIASES)
    assert texts.translate("es", DISABLED) == catalogue("es", DISABLED)


def test_an_empty_directory_overrides_nothing(tmp_path: Path) -> None:
    write(tmp_path, "README.txt", "notes of the operator")
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", INVALID) == catalogue("es", INVALID)


def test_a_refused_directory_leaves_the_overrides_in_force(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    write_json(good, "es.json", {"totp.invalidcode": "Uno."})
    write_json(bad, "es.json", {"totp.invalidcode": "Dos.", "totp.nope": "x"})
    texts = load_overrides(good, ALIASES)
    with pytest.raises(ValueError, match=r"totp\.nope"):
        load_overrides(bad, ALIASES)
    assert texts.translate("es", INVALID) == "Uno."


def test_translate_speaks_with_the_current_texts_only_inside_the_block(tmp_path: Path) -> None:
    spanish = catalogue("es", INVALID)
    first, second = tmp_path / "first", tmp_path / "second"
    write_json(first, "es.json", {"totp.invalidcode": "Uno."})
    write_json(second, "es.json", {"totp.invalidcode": "Dos."})
    one, two = load_overrides(first, ALIASES), load_overrides(second, ALIASES)
    with current_texts(one):
        assert translate("es", INVALID) == "Uno."
        with current_texts(two):
            assert translate("es", INVALID) == "Dos."
        assert translate("es", INVALID) == "Uno."
    assert translate("es", INVALID) == spanish


def test_every_error_has_both_aliases() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if cls is errors.TwostepError:
            continue
        assert ALIASES[f"totp.{cls.code.replace('_', '')}"] == cls.default_msgid
        assert ALIASES[f"errors.{cls.code}"] == cls.default_msgid
    assert ALIASES["totp.invalidcode"] == INVALID
    assert ALIASES["totp.operationdisabled"] == DISABLED


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_readme_examples_load(tmp_path: Path, fmt: str) -> None:
    write(tmp_path, f"es.{fmt}", readme_block(f"translations-{fmt}", fmt))
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("es", INVALID) == "Ese código no sirve."
    assert texts.translate("es", LOCKED_OUT, seconds=9) == "Demasiados intentos: espere 9 segundos."
    assert texts.translate("es", RECOVERY_INVALID) == "Código de recuperación no válido."
    assert texts.translate("fr", INVALID) == catalogue("fr", INVALID)


# -- what is refused, with the file and the key named --------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE translations [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<translations><totp><invalidcode>&lol2;</invalidcode></totp></translations>"""

REFUSED: list[tuple[str, str, str | bytes, str]] = [
    # (id, file name, content, what the message says besides the file name)
    ("json-malformed", "es.json", '{"totp.invalidcode": "x",}', "not valid UTF-8 JSON"),
    ("json-not-utf8", "es.json", '{"totp.invalidcode": "código"}'.encode("latin-1"), "UTF-8"),
    ("json-top-array", "es.json", '["totp.invalidcode"]', "must be a JSON object"),
    ("json-number", "es.json", '{"totp": {"invalidcode": 3}}', "'totp.invalidcode'.*string"),
    ("json-null", "es.json", '{"totp.invalidcode": null}', "'totp.invalidcode'.*NoneType"),
    ("json-list", "es.json", '{"totp.invalidcode": ["x"]}', "'totp.invalidcode'.*list"),
    ("json-bool", "es.json", '{"totp.invalidcode": true}', "'totp.invalidcode'.*bool"),
    ("json-unknown", "es.json", '{"totp": {"invalidcod": "x"}}', "'totp.invalidcod'.*neither"),
    ("json-unknown-locale-key", "fr.json", '{"The code is not valid": "x"}', "neither"),
    (
        "json-duplicate",
        "es.json",
        '{"totp.invalidcode": "a", "totp.invalidcode": "a"}',
        "key 'totp.invalidcode' appears twice",
    ),
    (
        "json-flat-and-nested",
        "es.json",
        '{"totp.invalidcode": "a", "totp": {"invalidcode": "b"}}',
        "'totp.invalidcode'.*another value",
    ),
    (
        "json-alias-and-msgid",
        "es.json",
        json.dumps({"totp.invalidcode": "a", INVALID: "b"}),
        "another value",
    ),
    ("json-empty-text", "es.json", '{"totp.invalidcode": "  "}', "'totp.invalidcode'.*empty"),
    (
        "json-too-deep",
        "es.json",
        "{" + '"a": {' * 40 + '"b": "x"' + "}" * 41,
        "nested too deeply",
    ),
    (
        "new-placeholder",
        "es.json",
        '{"totp.lockedout": "Espere {minutes} minutos."}',
        r"'totp.lockedout'.*\{minutes\} is not in the original.*\{seconds\}",
    ),
    (
        "placeholder-where-none",
        "es.json",
        '{"totp.invalidcode": "Mal {code}."}',
        r"'totp.invalidcode'.*\{code\}.*none",
    ),
    (
        "attribute-placeholder",
        "es.json",
        '{"totp.lockedout": "{seconds.__class__}"}',
        r"'totp.lockedout'.*plain \{name\}",
    ),
    ("positional-placeholder", "es.json", '{"totp.lockedout": "{} s"}', "plain"),
    ("conversion", "es.json", '{"totp.lockedout": "{seconds!r} s"}', r"\{seconds!r\}"),
    ("format-spec", "es.json", '{"totp.lockedout": "{seconds:>9} s"}', r"\{seconds:>9\}"),
    ("unpaired-brace", "es.json", '{"totp.lockedout": "{seconds s"}', "braces do not pair"),
    ("xml-malformed", "es.xml", "<translations><totp><invalidcode>x</totp>", "not valid"),
    ("xml-doctype", "es.xml", "<!DOCTYPE translations><translations/>", "DOCTYPE"),
    ("xml-billion-laughs", "es.xml", BILLION_LAUGHS, "DOCTYPE and ENTITY"),
    ("xml-entity", "fr.xml", '<translations><!ENTITY x "y"></translations>', "ENTITY"),
    ("xml-root", "es.xml", "<dictionary><totp/></dictionary>", "<translations>"),
    (
        "xml-unknown",
        "es.xml",
        "<translations><totp><invalid>x</invalid></totp></translations>",
        "'totp.invalid'.*neither",
    ),
    (
        "xml-duplicate",
        "es.xml",
        "<translations><totp><invalidcode>a</invalidcode><invalidcode>a</invalidcode></totp>"
        "</translations>",
        "'totp.invalidcode' appears twice",
    ),
    (
        "xml-mixed",
        "es.xml",
        "<translations><totp>stray<invalidcode>a</invalidcode></totp></translations>",
        "'totp' mixes text and elements",
    ),
    (
        "xml-markup-in-text",
        "es.xml",
        "<translations><totp><invalidcode>a <b>b</b></invalidcode></totp></translations>",
        "'totp.invalidcode' mixes",
    ),
    (
        "xml-empty",
        "es.xml",
        "<translations><totp><invalidcode/></totp></translations>",
        "'totp.invalidcode'.*empty",
    ),
    (
        "xml-namespace",
        "es.xml",
        '<translations xmlns="urn:x"><totp/></translations>',
        "root element must be <translations>",
    ),
    (
        "xml-placeholder",
        "en.xml",
        "<translations><totp><invalidcode>{x}</invalidcode></totp></translations>",
        r"'totp.invalidcode'.*\{x\}",
    ),
    ("unknown-locale", "de.json", '{"totp.invalidcode": "x"}', "not an override file"),
    ("region-locale", "es_ES.xml", "<translations/>", "not an override file"),
    ("upper-suffix", "es.JSON", "{}", "not an override file"),
]


@pytest.mark.parametrize(
    ("name", "content", "says"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_a_doubtful_file_is_refused_naming_it(
    tmp_path: Path, name: str, content: str | bytes, says: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ValueError, match=says) as refused:
        load_overrides(tmp_path, ALIASES)
    assert str(path) in str(refused.value)
    for locale in LOCALES:
        assert translate(locale, INVALID) == catalogue(locale, INVALID)


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    body = '{"totp.invalidcode": "x"}'
    path = write(tmp_path, "fr.json", body + " " * (MAX_OVERRIDE_FILE_BYTES + 1 - len(body)))
    with pytest.raises(ValueError, match=re.escape(f"{path}: larger than")):
        load_overrides(tmp_path, ALIASES)
    # One MiB exactly is fine.
    path.write_text(body + " " * (MAX_OVERRIDE_FILE_BYTES - len(body)))
    texts = load_overrides(tmp_path, ALIASES)
    assert texts.translate("fr", INVALID) == "x"


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'nope'}: not a directory")):
        load_overrides(tmp_path / "nope", ALIASES)


def test_a_directory_in_place_of_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "es.json").mkdir()
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'es.json'}: not a regular")):
        load_overrides(tmp_path, ALIASES)


def test_json_and_xml_may_not_disagree(tmp_path: Path) -> None:
    write_json(tmp_path, "es.json", {"totp.invalidcode": "Uno."})
    xml = write(
        tmp_path,
        "es.xml",
        "<translations><totp><invalidcode>Dos.</invalidcode></totp></translations>",
    )
    with pytest.raises(ValueError, match=re.escape(f"{xml}: key 'totp.invalidcode'")) as refused:
        load_overrides(tmp_path, ALIASES)
    assert str(tmp_path / "es.json") in str(refused.value)


async def test_two_apps_in_one_process_speak_each_with_its_own_texts(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_json(first, "es.json", {"totp.invalidcode": "Uno."})
    write_json(second, "es.json", {"totp.invalidcode": "Dos."})

    async def detail(_: Request) -> PlainTextResponse:
        return PlainTextResponse(translate("es", INVALID))

    def app_with(texts: Texts) -> Starlette:
        app = Starlette(routes=[Route("/", detail)], middleware=[Middleware(RuntimeTexts)])
        app.state.runtime = SimpleNamespace(texts=texts)
        return app

    one = app_with(load_overrides(first, ALIASES))
    two = app_with(load_overrides(second, ALIASES))
    for app, expected in ((one, "Uno."), (two, "Dos."), (one, "Uno.")):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
            assert (await c.get("/")).text == expected
    assert translate("es", INVALID) == catalogue("es", INVALID)
