"""The values, limits and errors of the expression language, and the tree a parse builds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "ROOTS",
    "AddNode",
    "BoolOpNode",
    "CompareNode",
    "ExpressionError",
    "JSONValue",
    "LiteralNode",
    "NameNode",
    "Node",
    "NotNode",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None

ROOTS: Final = ("user", "input", "vars")
MAX_LENGTH: Final = 1000
MAX_DEPTH: Final = 32
MAX_NODES: Final = 200


class ExpressionError(ValueError):
    """An expression outside the grammar, or a type error while evaluating one."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at position {position})")
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class LiteralNode:
    """A constant: string, number, boolean or null."""

    value: JSONValue
    position: int


@dataclass(frozen=True, slots=True)
class NameNode:
    """A dotted name: a root and the keys to walk."""

    parts: tuple[str, ...]
    position: int


@dataclass(frozen=True, slots=True)
class NotNode:
    """Boolean negation by truthiness."""

    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class BoolOpNode:
    """Short-circuit `and` or `or` over two or more operands."""

    op: str
    operands: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class CompareNode:
    """One comparison, equality or membership test."""

    op: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class AddNode:
    """Left-to-right `+` over two or more operands."""

    operands: tuple[Node, ...]
    positions: tuple[int, ...]  # of each "+"


Node: TypeAlias = LiteralNode | NameNode | NotNode | BoolOpNode | CompareNode | AddNode
