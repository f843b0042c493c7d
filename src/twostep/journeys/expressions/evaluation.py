"""Evaluating a parsed tree over a journey's JSON context, strictly typed."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

from twostep.journeys.expressions.tree import (
    AddNode,
    BoolOpNode,
    CompareNode,
    ExpressionError,
    JSONValue,
    LiteralNode,
    NameNode,
    Node,
    NotNode,
)

__all__ = ["evaluate_node", "walk_names"]


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


def _lookup(context: Mapping[str, Any], node: NameNode) -> JSONValue:
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


def evaluate_node(node: Node, context: Mapping[str, Any]) -> JSONValue:
    if isinstance(node, LiteralNode):
        return node.value
    if isinstance(node, NameNode):
        return _lookup(context, node)
    if isinstance(node, NotNode):
        return not evaluate_node(node.operand, context)
    if isinstance(node, BoolOpNode):
        stop_at = node.op == "or"  # `or` stops at the first truthy operand, `and` at a falsy one
        for operand in node.operands:
            if bool(evaluate_node(operand, context)) is stop_at:
                return stop_at
        return not stop_at
    if isinstance(node, CompareNode):
        left = evaluate_node(node.left, context)
        return _compare(node.op, left, evaluate_node(node.right, context), node.position)
    total = evaluate_node(node.operands[0], context)
    for operand, position in zip(node.operands[1:], node.positions, strict=True):
        total = _add(total, evaluate_node(operand, context), position)
    return total


def walk_names(node: Node) -> Iterator[str]:
    if isinstance(node, NameNode):
        yield ".".join(node.parts)
    elif isinstance(node, NotNode):
        yield from walk_names(node.operand)
    elif isinstance(node, CompareNode):
        yield from walk_names(node.left)
        yield from walk_names(node.right)
    elif isinstance(node, BoolOpNode | AddNode):
        for operand in node.operands:
            yield from walk_names(operand)
