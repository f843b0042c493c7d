"""Texts a person sees: gettext catalogues read with Babel, chosen by Accept-Language, and the
operator's overrides of any of them, per locale, from ``TWOSTEP_TRANSLATIONS_DIR`` (spec 7).

An override directory holds ``<locale>.json`` and/or ``<locale>.xml`` for the locales of
``LOCALES``. Both map keys to texts; nested objects (JSON) or elements (XML, under a
``<translations>`` root) are flattened with dots, so ``{"totp": {"invalidcode": "..."}}`` and
``<translations><totp><invalidcode>...</invalidcode></totp></translations>`` both set the key
``totp.invalidcode``. A key is an alias the caller knows (``totp.invalidcode`` -> the msgid of
the invalid-code error) or a msgid itself. Anything doubtful in a file refuses the whole load
with a ``ValueError`` naming the file and the key: a server should not start while silently
ignoring what its operator wrote.

The overrides read are a ``Texts`` value owned by the server's ``Runtime``, not process state:
the web edge makes a request's ``Texts`` current (``current_texts``) and ``translate`` reads
them, so two servers in one process never see each other's overrides.
"""

from __future__ import annotations

import json
import logging
import re
import string
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "MAX_OVERRIDE_FILE_BYTES",
    "NO_OVERRIDES",
    "Texts",
    "current_texts",
    "load_overrides",
    "negotiate",
    "translate",
]

DEFAULT_LOCALE = "en"
LOCALES = ("en", "es", "fr")
MAX_OVERRIDE_FILE_BYTES = 1 << 20
_MAX_DEPTH = 16
_OVERRIDE_SUFFIXES = (".json", ".xml")
_XML_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Texts:
    """The operator's overrides of one server: locale -> msgid -> text, never mutated."""

    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))

    def translate(self, locale: str, msgid: str, **params: Any) -> str:
        """``msgid`` in ``locale``: the operator's override, else the catalogue's translation,
        else the msgid itself (English); with ``{name}`` placeholders filled."""
        text = self.overrides.get(locale, {}).get(msgid)
        if text is None:
            text = _catalogue(locale).get(msgid, msgid) if locale != DEFAULT_LOCALE else msgid
        if not params:
            return text
        for candidate in (text, msgid):
            try:
                return candidate.format(**params)
            except (KeyError, IndexError, ValueError, AttributeError):
                continue
        return msgid


NO_OVERRIDES = Texts()

# Which server's texts the running request speaks with; set by the web edge per request.
_current: ContextVar[Texts] = ContextVar("twostep_texts", default=NO_OVERRIDES)


def _po_path(locale: str) -> Any:
    return files("twostep") / "locale" / locale / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(LOCALES))
def _catalogue(locale: str) -> dict[str, str]:
    path = _po_path(locale)
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


@lru_cache(maxsize=1)
def _known_msgids() -> frozenset[str]:
    """Every msgid of the template and of each language's catalogue, translated or not."""
    found: set[str] = set()
    for path in [files("twostep") / "locale" / "messages.pot", *map(_po_path, LOCALES)]:
        if path.is_file():
            with path.open("rb") as handle:
                found.update(str(m.id) for m in read_po(handle) if m.id)
    return frozenset(found)


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
    """``msgid`` in ``locale`` with the current ``Texts`` (the catalogue's alone outside a
    request); see ``Texts.translate``."""
    return _current.get().translate(locale, msgid, **params)


@contextmanager
def current_texts(texts: Texts) -> Iterator[None]:
    """Make ``texts`` the ones ``translate`` speaks with inside the block (and its tasks)."""
    token = _current.set(texts)
    try:
        yield
    finally:
        _current.reset(token)


# -- operator overrides ------------------------------------------------------------------------


def load_overrides(
    directory: Path | None,
    aliases: Mapping[str, str],
    *,
    tolerated: Callable[[str], bool] = lambda key: False,
) -> Texts:
    """Read the override files of ``directory`` (``None``: no overrides).

    ``aliases`` maps a file key (``totp.invalidcode``) to the msgid it overrides; any other key
    must be a msgid of the catalogue or one of the aliases' targets, or a key ``tolerated``
    accepts (a tag of an imported dictionary with no place here): those are skipped, named
    together in one warning. (Its length is this docstring: the refusals are listed here, where
    an operator reading the code looks for them.) On any doubt (a file too
    large or malformed, an XML DOCTYPE or ENTITY, a non-string value, an unknown key, a
    placeholder the original text does not have, one msgid given two texts) this raises a
    ``ValueError`` naming the file and the key.
    """
    if directory is None:
        return NO_OVERRIDES
    if not directory.is_dir():
        raise ValueError(f"translations directory {directory}: not a directory")
    _refuse_stray_files(directory)
    known = _known_msgids() | frozenset(aliases.values())
    loaded: dict[str, Mapping[str, str]] = {}
    ignored: set[str] = set()
    for locale in LOCALES:
        texts: dict[str, tuple[str, Path, str]] = {}
        for suffix, read in ((".json", _json_entries), (".xml", _xml_entries)):
            path = directory / f"{locale}{suffix}"
            if not path.exists():
                continue
            for key, text in read(path, _read_limited(path)):
                if key not in aliases and key not in known and tolerated(key):
                    ignored.add(key)
                    continue
                msgid = _resolve(path, key, aliases, known)
                _check_text(path, key, msgid, text)
                if msgid in texts and texts[msgid][0] != text:
                    _, other_path, other_key = texts[msgid]
                    raise ValueError(
                        f"translation file {path}: key {key!r} gives the text of {msgid!r} "
                        f"another value than key {other_key!r} of {other_path}"
                    )
                texts[msgid] = (text, path, key)
        if texts:
            loaded[locale] = MappingProxyType({m: t for m, (t, _, _) in texts.items()})
    if ignored:
        _log.warning(
            "translation files in %s: %d key(s) with no text in Twostep ignored: %s",
            directory,
            len(ignored),
            ", ".join(sorted(ignored)),
        )
    return Texts(MappingProxyType(loaded))


def _refuse_stray_files(directory: Path) -> None:
    """An override file for a locale we do not serve is a mistake, not something to skip."""
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in _OVERRIDE_SUFFIXES and (
            path.stem not in LOCALES or path.suffix not in _OVERRIDE_SUFFIXES
        ):
            raise ValueError(
                f"translation file {path}: not an override file; expected "
                + ", ".join(f"{loc}.json or {loc}.xml" for loc in LOCALES)
            )


def _read_limited(path: Path) -> bytes:
    if not path.is_file():
        raise ValueError(f"translation file {path}: not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OVERRIDE_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"translation file {path}: cannot be read ({exc.strerror})") from exc
    if len(data) > MAX_OVERRIDE_FILE_BYTES:
        raise ValueError(
            f"translation file {path}: larger than {MAX_OVERRIDE_FILE_BYTES} bytes (1 MiB)"
        )
    return data


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _json_entries(path: Path, data: bytes) -> Iterator[tuple[str, str]]:
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise ValueError(f"translation file {path}: key {exc.args[0]!r} appears twice") from exc
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"translation file {path}: not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"translation file {path}: the top level must be a JSON object")
    yield from _flatten(path, document, "", 0)


def _flatten(
    path: Path, node: dict[str, Any], prefix: str, depth: int
) -> Iterator[tuple[str, str]]:
    if depth > _MAX_DEPTH:
        raise ValueError(f"translation file {path}: key {prefix!r} is nested too deeply")
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _flatten(path, value, f"{key}.", depth + 1)
        elif isinstance(value, str):
            yield key, value
        else:
            raise ValueError(
                f"translation file {path}: key {key!r}: the value must be a string or an "
                f"object, not {type(value).__name__}"
            )


def _xml_entries(path: Path, data: bytes) -> Iterator[tuple[str, str]]:
    if _XML_DECLARATIONS.search(data):
        raise ValueError(f"translation file {path}: DOCTYPE and ENTITY declarations are refused")
    try:
        data.decode("utf-8")
        root = ElementTree.fromstring(data)  # noqa: S314 - no DOCTYPE, so no entity can expand
    except (ValueError, ElementTree.ParseError) as exc:
        raise ValueError(f"translation file {path}: not valid UTF-8 XML: {exc}") from exc
    if root.tag != "translations":
        raise ValueError(
            f"translation file {path}: the root element must be <translations>, not <{root.tag}>"
        )
    seen: set[str] = set()
    for key, text in _xml_leaves(path, root, "", 0):
        if key in seen:
            raise ValueError(f"translation file {path}: key {key!r} appears twice")
        seen.add(key)
        yield key, text


def _xml_leaves(
    path: Path, element: ElementTree.Element, prefix: str, depth: int
) -> Iterator[tuple[str, str]]:
    children = list(element)
    where = prefix.rstrip(".") or "<translations>"
    if depth > _MAX_DEPTH:
        raise ValueError(f"translation file {path}: key {where!r} is nested too deeply")
    if any((child.tail or "").strip() for child in children) or (
        children and (element.text or "").strip()
    ):
        raise ValueError(
            f"translation file {path}: key {where!r} mixes text and elements; "
            "a text goes in an element of its own"
        )
    for child in children:
        if not isinstance(child.tag, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", child.tag):
            raise ValueError(
                f"translation file {path}: element {child.tag!r} under {where!r} is not a key"
            )
        key = f"{prefix}{child.tag}"
        if len(child):
            yield from _xml_leaves(path, child, f"{key}.", depth + 1)
        else:
            yield key, (child.text or "").strip()


def _resolve(path: Path, key: str, aliases: Mapping[str, str], known: frozenset[str]) -> str:
    if key in aliases:
        return aliases[key]
    if key in known:
        return key
    raise ValueError(
        f"translation file {path}: key {key!r} is neither a known alias (such as "
        f"{_example(aliases)}) nor a msgid of the message catalogue"
    )


def _example(aliases: Mapping[str, str]) -> str:
    names = sorted(aliases)
    return ", ".join(repr(n) for n in names[:3]) if names else "none known"


def _check_text(path: Path, key: str, msgid: str, text: str) -> None:
    where = f"translation file {path}: key {key!r}"
    if not text.strip():
        raise ValueError(f"{where}: the text is empty")
    allowed = _placeholders(msgid, lambda _: None)

    def refuse(problem: str) -> None:
        raise ValueError(f"{where}: {problem}")

    used = _placeholders(text, refuse)
    extra = sorted(used - allowed)
    if extra:
        have = ", ".join(f"{{{p}}}" for p in sorted(allowed)) or "none"
        raise ValueError(
            f"{where}: placeholder {', '.join(f'{{{p}}}' for p in extra)} is not in the "
            f"original text {msgid!r} (its placeholders: {have})"
        )


def _placeholders(text: str, refuse: Callable[[str], None]) -> set[str]:
    """The ``{name}`` fields of ``text``; ``refuse`` hears of any other kind of field."""
    names: set[str] = set()
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:
        refuse(f"braces do not pair ({exc}); write {{{{ and }}}} for a literal brace")
        return names
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            refuse(f"placeholder {shown} must be a plain {{name}}")
        names.add(name)
    return names
