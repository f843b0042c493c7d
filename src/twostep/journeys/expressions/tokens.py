"""The tokenizer: text to tokens, refusing any character outside the grammar."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from twostep.journeys.expressions.tree import ExpressionError, JSONValue

__all__ = ["COMPARISONS", "KEYWORDS", "LITERAL_KEYWORDS", "Token", "tokenize"]

KEYWORDS: Final = {
    "and": "and",
    "or": "or",
    "not": "not",
    "in": "in",
    "true": "true",
    "True": "true",
    "false": "false",
    "False": "false",
    "null": "null",
    "None": "null",
}
LITERAL_KEYWORDS: Final[dict[str, JSONValue]] = {"true": True, "false": False, "null": None}
COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_WHITESPACE: Final = frozenset(" \t\n\r")
_DIGITS: Final = frozenset("0123456789")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_NAME_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS: Final = _NAME_START | _DIGITS


@dataclass(frozen=True, slots=True)
class Token:
    """A token: kind is "string", "number", "name", "end", an operator or a keyword."""

    kind: str
    position: int
    value: JSONValue = None
    parts: tuple[str, ...] = ()


def tokenize(text: str) -> Iterator[Token]:
    """Split `text` into tokens, refusing any character outside the grammar."""
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in _WHITESPACE:
            i += 1
        elif char in "\"'":
            string, i_next = _read_string(text, i)
            yield Token("string", i, string)
            i = i_next
        elif char in _DIGITS or (char == "-" and i + 1 < n and text[i + 1] in _DIGITS):
            number, i_next = _read_number(text, i)
            yield Token("number", i, number)
            i = i_next
        elif char in _NAME_START:
            parts, i_next = _read_name(text, i)
            keyword = KEYWORDS.get(parts[0]) if len(parts) == 1 else None
            yield Token(keyword, i) if keyword else Token("name", i, parts=parts)
            i = i_next
        elif text.startswith(("==", "!=", "<=", ">="), i):
            yield Token(text[i : i + 2], i)
            i += 2
        elif char in "<>+()":
            yield Token(char, i)
            i += 1
        else:
            raise ExpressionError(f"unexpected character {_show(char)}", i)
    yield Token("end", n)


def _show(char: str) -> str:
    """A character for an error message: ASCII-printable as is, anything else as U+XXXX."""
    return repr(char) if " " <= char <= "~" else f"U+{ord(char):04X}"


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read the quoted string at `start`; return its value and the index after it."""
    quote, i, n = text[start], start + 1, len(text)
    out: list[str] = []
    while True:
        if i >= n:
            raise ExpressionError("unterminated string", start)
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char < " " or "\ud800" <= char <= "\udfff":
            raise ExpressionError(f"{_show(char)} inside a string must be escaped", i)
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i += 2
            continue
        if escape != "u":
            raise ExpressionError("unknown escape in a string", i)
        code = _read_hex4(text, i)
        i += 6
        if 0xD800 <= code <= 0xDBFF and text.startswith("\\u", i):
            low = _read_hex4(text, i)
            if 0xDC00 <= low <= 0xDFFF:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                i += 6
        if code == 0 or 0xD800 <= code <= 0xDFFF:
            raise ExpressionError("NUL and lone surrogates are not allowed in a string", i - 6)
        out.append(chr(code))


def _read_hex4(text: str, i: int) -> int:
    """Read the four hex digits of the \\u escape at `i`."""
    digits = text[i + 2 : i + 6]
    if len(digits) != 4 or not set(digits) <= _HEX:
        raise ExpressionError("\\u needs four hex digits", i)
    return int(digits, 16)


def _read_number(text: str, start: int) -> tuple[int | float, int]:
    """Read the integer or decimal at `start`; return its value and the index after it."""
    i, n = start + (text[start] == "-"), len(text)
    digits_start = i
    while i < n and text[i] in _DIGITS:
        i += 1
    if text[digits_start] == "0" and i - digits_start > 1:
        raise ExpressionError("numbers cannot have leading zeros", start)
    is_decimal = i + 1 < n and text[i] == "." and text[i + 1] in _DIGITS
    if is_decimal:
        i += 1
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and (text[i] in _NAME_CHARS or text[i] == "."):
        raise ExpressionError("malformed number", start)
    literal = text[start:i]
    if not is_decimal:
        return int(literal), i
    value = float(literal)
    if not math.isfinite(value):
        raise ExpressionError("number out of range", start)
    return value, i


def _read_name(text: str, start: int) -> tuple[tuple[str, ...], int]:
    """Read the dotted name at `start`; return its parts and the index after it."""
    i, n = start, len(text)
    parts: list[str] = []
    while True:
        part_start = i
        while i < n and text[i] in _NAME_CHARS:
            i += 1
        part = text[part_start:i]
        if "__" in part:
            raise ExpressionError("names cannot contain '__'", part_start)
        parts.append(part)
        if i < n and text[i] == ".":
            if i + 1 >= n or text[i + 1] not in _NAME_START:
                raise ExpressionError("expected a key after '.'", i)
            i += 1
            continue
        return tuple(parts), i


# --- the parser -------------------------------------------------------------------------
