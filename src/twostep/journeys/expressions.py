"""A small safe expression language over a journey's JSON context (spec section 6).

Grammar, loosest binding first (the same precedence as Python)::

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") sum]
    sum        := atom ("+" atom)*
    atom       := literal | name | "(" expression ")"
    literal    := string | number | true | false | null | True | False | None
    name       := root ("." key)*      root is user, input or vars; no spaces around the dots

Decisions:

- A hand-written tokenizer and recursive-descent parser build a tree of frozen nodes that
  `Expression.evaluate` interprets; nothing is ever compiled or evaluated by Python.
- Names and keys are ASCII identifiers (no look-alikes); a key containing "__" is refused.
  A name walks nested dicts only; a missing key or a non-dict on the way gives null.
- Strings take single or double quotes and the JSON escapes plus \\'; raw control
  characters, lone surrogates and NUL (raw or \\u0000) are refused, so every JSON string
  literal without NUL is a valid expression.
- Numbers are JSON-like without exponents: 0, 12, -3, 1.5 (a "-" directly before a digit is
  part of the literal; there is no subtraction). A decimal that overflows a float is refused.
- Comparison chains (`a < b < c`) are refused: combine comparisons with `and`.
- `==`/`!=` compare JSON values strictly: true is not 1, [1] equals [1.0].
  `< <= > >=` order two numbers or two strings (by code point); anything else is an error.
- `in`/`not in`: a string in a string (substring) or any value in a list; else an error.
- `+` adds two numbers or concatenates two strings; anything else (null, booleans, lists,
  dicts, mixed) is an error, as is a non-finite sum.
- `and`/`or` short-circuit and return booleans; `not` returns a boolean (JSON truthiness).
- Limits: 1000 characters, 32 nested parentheses or `not`s, 200 nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypeGuard

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "ROOTS",
    "Expression",
    "ExpressionError",
    "JSONValue",
    "parse_expression",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None

ROOTS: Final = ("user", "input", "vars")
MAX_LENGTH: Final = 1000
MAX_DEPTH: Final = 32
MAX_NODES: Final = 200

_KEYWORDS: Final = {
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
_LITERAL_KEYWORDS: Final[dict[str, JSONValue]] = {"true": True, "false": False, "null": None}
_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
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


class ExpressionError(ValueError):
    """An expression outside the grammar, or a type error while evaluating one."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at position {position})")
        self.message = message
        self.position = position


# --- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    """A constant: string, number, boolean or null."""

    value: JSONValue
    position: int


@dataclass(frozen=True, slots=True)
class _Name:
    """A dotted name: a root and the keys to walk."""

    parts: tuple[str, ...]
    position: int


@dataclass(frozen=True, slots=True)
class _Not:
    """Boolean negation by truthiness."""

    operand: _Node
    position: int


@dataclass(frozen=True, slots=True)
class _BoolOp:
    """Short-circuit `and` or `or` over two or more operands."""

    op: str
    operands: tuple[_Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class _Compare:
    """One comparison, equality or membership test."""

    op: str
    left: _Node
    right: _Node
    position: int


@dataclass(frozen=True, slots=True)
class _Add:
    """Left-to-right `+` over two or more operands."""

    operands: tuple[_Node, ...]
    positions: tuple[int, ...]  # of each "+"


_Node: TypeAlias = _Literal | _Name | _Not | _BoolOp | _Compare | _Add


# --- tokens -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    """A token: kind is "string", "number", "name", "end", an operator or a keyword."""

    kind: str
    position: int
    value: JSONValue = None
    parts: tuple[str, ...] = ()


def _tokens(text: str) -> Iterator[_Token]:
    """Split `text` into tokens, refusing any character outside the grammar."""
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in _WHITESPACE:
            i += 1
        elif char in "\"'":
            string, i_next = _read_string(text, i)
            yield _Token("string", i, string)
            i = i_next
        elif char in _DIGITS or (char == "-" and i + 1 < n and text[i + 1] in _DIGITS):
            number, i_next = _read_number(text, i)
            yield _Token("number", i, number)
            i = i_next
        elif char in _NAME_START:
            parts, i_next = _read_name(text, i)
            keyword = _KEYWORDS.get(parts[0]) if len(parts) == 1 else None
            yield _Token(keyword, i) if keyword else _Token("name", i, parts=parts)
            i = i_next
        elif text.startswith(("==", "!=", "<=", ">="), i):
            yield _Token(text[i : i + 2], i)
            i += 2
        elif char in "<>+()":
            yield _Token(char, i)
            i += 1
        else:
            raise ExpressionError(f"unexpected character {_show(char)}", i)
    yield _Token("end", n)


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


class _Parser:
    """Recursive descent over the token list, with depth and size limits."""

    __slots__ = ("_depth", "_index", "_nodes", "_tokens")

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0
        self._nodes = 0

    def parse(self) -> _Node:
        """Parse the whole token list as one expression."""
        if self._peek().kind == "end":
            raise ExpressionError("empty expression", 0)
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {_describe(token)}", token.position)
        return node

    def _peek(self, ahead: int = 0) -> _Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _next(self) -> _Token:
        token = self._peek()
        self._index += 1
        return token

    def _count(self, position: int) -> None:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise ExpressionError(f"expression has more than {MAX_NODES} parts", position)

    def _enter(self, position: int) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH}", position)

    def _or(self) -> _Node:
        return self._bool_op("or", self._and)

    def _and(self) -> _Node:
        return self._bool_op("and", self._not)

    def _bool_op(self, op: str, operand: Callable[[], _Node]) -> _Node:
        first = self._peek().position
        operands: list[_Node] = [operand()]
        while self._peek().kind == op:
            self._next()
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        self._count(first)
        return _BoolOp(op, tuple(operands), first)

    def _not(self) -> _Node:
        token = self._peek()
        if token.kind != "not":
            return self._comparison()
        self._next()
        self._enter(token.position)
        operand = self._not()
        self._depth -= 1
        self._count(token.position)
        return _Not(operand, token.position)

    def _comparison_op(self) -> tuple[str, int] | None:
        token = self._peek()
        if token.kind in _COMPARISONS or token.kind == "in":
            return token.kind, 1
        if token.kind == "not" and self._peek(1).kind == "in":
            return "not in", 2
        return None

    def _comparison(self) -> _Node:
        left = self._sum()
        found = self._comparison_op()
        if found is None:
            return left
        op, width = found
        position = self._peek().position
        self._index += width
        right = self._sum()
        if self._comparison_op() is not None:
            raise ExpressionError(
                "comparison chains are not allowed: combine them with 'and'",
                self._peek().position,
            )
        self._count(position)
        return _Compare(op, left, right, position)

    def _sum(self) -> _Node:
        operands, positions = [self._atom()], []
        while self._peek().kind == "+":
            positions.append(self._next().position)
            operands.append(self._atom())
        if len(operands) == 1:
            return operands[0]
        self._count(positions[0])
        return _Add(tuple(operands), tuple(positions))

    def _atom(self) -> _Node:
        token = self._next()
        if token.kind == "(":
            self._enter(token.position)
            node = self._or()
            self._depth -= 1
            closing = self._next()
            if closing.kind != ")":
                raise ExpressionError(f"expected ')', found {_describe(closing)}", closing.position)
            return node
        self._count(token.position)
        if token.kind in ("string", "number"):
            return _Literal(token.value, token.position)
        if token.kind in _LITERAL_KEYWORDS:
            return _Literal(_LITERAL_KEYWORDS[token.kind], token.position)
        if token.kind == "name":
            if token.parts[0] not in ROOTS:
                raise ExpressionError(
                    f"unknown name {token.parts[0]!r}: names start with user., input. or vars.",
                    token.position,
                )
            return _Name(token.parts, token.position)
        raise ExpressionError(f"unexpected {_describe(token)}", token.position)


def _describe(token: _Token) -> str:
    """A token for an error message."""
    if token.kind == "end":
        return "end of expression"
    if token.kind in ("string", "number", "name"):
        return token.kind
    return repr(token.kind)


def parse_expression(text: str) -> Expression:
    """Parse `text`, raising ExpressionError for anything outside the grammar or the limits."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    return Expression(text, _Parser(list(_tokens(text))).parse())


# --- evaluation -------------------------------------------------------------------------


def _type_name(value: object) -> str:
    """The JSON type name of a value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _is_number(value: object) -> TypeGuard[int | float]:
    """Whether `value` is a JSON number (booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: object, b: object) -> bool:
    """Strict JSON equality: booleans are not numbers; only JSON types are looked at."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if x is None or y is None or isinstance(x, bool) or isinstance(y, bool):
            if x is not y:
                return False
        elif _is_number(x) and _is_number(y):
            if x != y:
                return False
        elif isinstance(x, str) and isinstance(y, str):
            if str.__ne__(x, y):
                return False
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif isinstance(x, Mapping) and isinstance(y, Mapping):
            if len(x) != len(y) or any(key not in y for key in x):
                return False
            pending.extend((x[key], y[key]) for key in x)
        else:
            return False
    return True


def _lookup(context: Mapping[str, Any], node: _Name) -> JSONValue:
    """Walk the dotted name through nested dicts; anything missing is null."""
    current: Any = context
    for part in node.parts:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    if current is None or isinstance(current, bool | int | float | str | list | dict):
        return current
    if isinstance(current, Mapping):
        return dict(current)
    raise ExpressionError(f"{'.'.join(node.parts)} is not a JSON value", node.position)


def _add(left: JSONValue, right: JSONValue, position: int) -> JSONValue:
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    if _is_number(left) and _is_number(right):
        try:
            total = left + right
        except OverflowError:  # a huge int plus a float
            total = math.inf
        if isinstance(total, float) and not math.isfinite(total):
            raise ExpressionError("number out of range", position)
        return total
    raise ExpressionError(
        f"cannot add {_type_name(left)} and {_type_name(right)}: "
        "'+' adds two numbers or joins two strings",
        position,
    )


def _order(op: str, left: Any, right: Any) -> bool:
    """Apply an ordering operator to two strings or two numbers."""
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _compare(op: str, left: JSONValue, right: JSONValue, position: int) -> bool:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in ("in", "not in"):
        if isinstance(left, str) and isinstance(right, str):
            found = str.__contains__(right, left)
        elif isinstance(right, list):
            found = any(_equal(left, item) for item in right)
        else:
            raise ExpressionError(
                f"cannot test {_type_name(left)} in {_type_name(right)}: "
                "'in' looks for a string in a string or a value in a list",
                position,
            )
        return found if op == "in" else not found
    if isinstance(left, str) and isinstance(right, str):
        return _order(op, left, right)
    if _is_number(left) and _is_number(right):
        return _order(op, left, right)
    raise ExpressionError(
        f"cannot order {_type_name(left)} and {_type_name(right)}: "
        f"'{op}' compares two numbers or two strings",
        position,
    )


def _evaluate(node: _Node, context: Mapping[str, Any]) -> JSONValue:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Name):
        return _lookup(context, node)
    if isinstance(node, _Not):
        return not _evaluate(node.operand, context)
    if isinstance(node, _BoolOp):
        stop_at = node.op == "or"  # `or` stops at the first truthy operand, `and` at a falsy one
        for operand in node.operands:
            if bool(_evaluate(operand, context)) is stop_at:
                return stop_at
        return not stop_at
    if isinstance(node, _Compare):
        left = _evaluate(node.left, context)
        return _compare(node.op, left, _evaluate(node.right, context), node.position)
    total = _evaluate(node.operands[0], context)
    for operand, position in zip(node.operands[1:], node.positions, strict=True):
        total = _add(total, _evaluate(operand, context), position)
    return total


def _walk_names(node: _Node) -> Iterator[str]:
    if isinstance(node, _Name):
        yield ".".join(node.parts)
    elif isinstance(node, _Not):
        yield from _walk_names(node.operand)
    elif isinstance(node, _Compare):
        yield from _walk_names(node.left)
        yield from _walk_names(node.right)
    elif isinstance(node, _BoolOp | _Add):
        for operand in node.operands:
            yield from _walk_names(operand)


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: its source text and the tree `evaluate` interprets."""

    text: str
    _tree: _Node = field(repr=False)

    def evaluate(self, context: Mapping[str, Any]) -> JSONValue:
        """Evaluate over `context` (roots user, input, vars); ExpressionError on a type error."""
        try:
            return _evaluate(self._tree, context)
        except RecursionError:
            raise ExpressionError("expression too deep to evaluate here") from None

    def names(self) -> frozenset[str]:
        """The dotted names the expression reads, e.g. {"user.email", "input.username"}."""
        return frozenset(_walk_names(self._tree))
