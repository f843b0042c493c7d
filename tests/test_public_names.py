"""Every module says what it offers: its ``__all__`` is exactly the public names it defines.

A module's public names are the functions, classes and constants (any top-level name without a
leading ``_``) it defines itself; names it imports are not its own, even when others import them
from it, unless it re-exports one on purpose, in the explicit form ``from x import Name as Name``. A package's ``__init__`` lists the surface of its package, so its ``__all__`` only has
to name what it holds. Read from the source (no import): Alembic's migration scripts follow
Alembic's conventions and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import twostep

PACKAGE = Path(twostep.__file__).parent
SKIPPED = ("storage/migrations/",)


def modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not any(part in path.relative_to(PACKAGE).as_posix() for part in SKIPPED)
    )


def module_id(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The module's statements, with those of top-level ``if`` and ``try`` blocks."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + node.orelse + node.finalbody)
        else:
            yield node


def _is_type_variable(value: ast.expr | None) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in {"TypeVar", "ParamSpec", "TypeVarTuple"}
    )


def defined_names(tree: ast.Module) -> set[str]:
    """The top-level names the module binds itself (not by import, unless re-exported on
    purpose with ``import Name as Name``), type variables aside."""
    names: set[str] = set()
    for node in _top_level(tree.body):
        if isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names if alias.asname == alias.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign) and not _is_type_variable(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if _is_public(name)}


def _is_public(name: str) -> bool:
    """No leading ``_``; or a dunder such as ``__version__`` (``__all__`` itself aside)."""
    dunder = name.startswith("__") and name.endswith("__")
    return (dunder and name != "__all__") or not name.startswith("_")


def declared_all(tree: ast.Module) -> list[str] | None:
    """The literal ``__all__`` of the module, None if it has none."""
    for node in _top_level(tree.body):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            assert isinstance(value, ast.List | ast.Tuple), "__all__ must be a literal list"
            return [ast.literal_eval(item) for item in value.elts]
    return None


def bound_names(tree: ast.Module) -> set[str]:
    """Every top-level name of the module, imported ones too."""
    names = defined_names(tree) | {
        (alias.asname or alias.name).split(".")[0]
        for node in _top_level(tree.body)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    return names


@pytest.mark.parametrize("path", modules(), ids=module_id)
def test_all_names_the_public_names_of_the_module(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    listed = declared_all(tree)
    assert listed is not None, f"{module_id(path)} has no __all__"
    assert len(listed) == len(set(listed)), f"{module_id(path)}: __all__ names a name twice"
    if path.name == "__init__.py":
        missing = set(listed) - bound_names(tree) - {p.stem for p in path.parent.iterdir()}
        assert not missing, f"{module_id(path)}: __all__ names what it does not hold: {missing}"
        return
    defined = defined_names(tree)
    assert set(listed) == defined, (
        f"{module_id(path)}: not in __all__: {sorted(defined - set(listed))}; "
        f"in __all__ but not defined here: {sorted(set(listed) - defined)}"
    )
