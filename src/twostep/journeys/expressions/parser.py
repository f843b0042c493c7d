"""The recursive-descent parser: tokens to a tree of frozen nodes, within the limits."""

from __future__ import annotations

from collections.abc import Callable

from twostep.journeys.expressions.tokens import COMPARISONS, LITERAL_KEYWORDS, Token
from twostep.journeys.expressions.tree import (
    MAX_DEPTH,
    MAX_NODES,
    ROOTS,
    AddNode,
    BoolOpNode,
    CompareNode,
    ExpressionError,
    LiteralNode,
    NameNode,
    Node,
    NotNode,
)

__all__ = ["Parser"]


class Parser:
    """Recursive descent over the token list, with depth and size limits."""

    __slots__ = ("_depth", "_index", "_nodes", "tokenize")

    def __init__(self, tokens: list[Token]) -> None:
        self.tokenize = tokens
        self._index = 0
        self._depth = 0
        self._nodes = 0

    def parse(self) -> Node:
        """Parse the whole token list as one expression."""
        if self._peek().kind == "end":
            raise ExpressionError("empty expression", 0)
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {_describe(token)}", token.position)
        return node

    def _peek(self, ahead: int = 0) -> Token:
        return self.tokenize[min(self._index + ahead, len(self.tokenize) - 1)]

    def _next(self) -> Token:
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

    def _or(self) -> Node:
        return self._bool_op("or", self._and)

    def _and(self) -> Node:
        return self._bool_op("and", self._not)

    def _bool_op(self, op: str, operand: Callable[[], Node]) -> Node:
        first = self._peek().position
        operands: list[Node] = [operand()]
        while self._peek().kind == op:
            self._next()
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        self._count(first)
        return BoolOpNode(op, tuple(operands), first)

    def _not(self) -> Node:
        token = self._peek()
        if token.kind != "not":
            return self._comparison()
        self._next()
        self._enter(token.position)
        operand = self._not()
        self._depth -= 1
        self._count(token.position)
        return NotNode(operand, token.position)

    def _comparison_op(self) -> tuple[str, int] | None:
        token = self._peek()
        if token.kind in COMPARISONS or token.kind == "in":
            return token.kind, 1
        if token.kind == "not" and self._peek(1).kind == "in":
            return "not in", 2
        return None

    def _comparison(self) -> Node:
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
        return CompareNode(op, left, right, position)

    def _sum(self) -> Node:
        operands, positions = [self._atom()], []
        while self._peek().kind == "+":
            positions.append(self._next().position)
            operands.append(self._atom())
        if len(operands) == 1:
            return operands[0]
        self._count(positions[0])
        return AddNode(tuple(operands), tuple(positions))

    def _atom(self) -> Node:
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
            return LiteralNode(token.value, token.position)
        if token.kind in LITERAL_KEYWORDS:
            return LiteralNode(LITERAL_KEYWORDS[token.kind], token.position)
        if token.kind == "name":
            if token.parts[0] not in ROOTS:
                raise ExpressionError(
                    f"unknown name {token.parts[0]!r}: names start with user., input. or vars.",
                    token.position,
                )
            return NameNode(token.parts, token.position)
        raise ExpressionError(f"unexpected {_describe(token)}", token.position)


def _describe(token: Token) -> str:
    """A token for an error message."""
    if token.kind == "end":
        return "end of expression"
    if token.kind in ("string", "number", "name"):
        return token.kind
    return repr(token.kind)
