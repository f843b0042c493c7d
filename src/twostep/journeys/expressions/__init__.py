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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from twostep.journeys.expressions.evaluation import evaluate_node, walk_names
from twostep.journeys.expressions.parser import Parser
from twostep.journeys.expressions.tokens import tokenize
from twostep.journeys.expressions.tree import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    ROOTS,
    ExpressionError,
    JSONValue,
    Node,
)

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


def parse_expression(text: str) -> Expression:
    """Parse `text`, raising ExpressionError for anything outside the grammar or the limits."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    return Expression(text, Parser(list(tokenize(text))).parse())


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: its source text and the tree `evaluate` interprets."""

    text: str
    _tree: Node = field(repr=False)

    def evaluate(self, context: Mapping[str, Any]) -> JSONValue:
        """Evaluate over `context` (roots user, input, vars); ExpressionError on a type error."""
        try:
            return evaluate_node(self._tree, context)
        except RecursionError:
            raise ExpressionError("expression too deep to evaluate here") from None

    def names(self) -> frozenset[str]:
        """The dotted names the expression reads, e.g. {"user.email", "input.username"}."""
        return frozenset(walk_names(self._tree))
