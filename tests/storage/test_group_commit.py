"""SQLite's group commit (``storage.db``): units of work of one process that meet in one turn
of the event loop share a transaction, yet each stands or falls alone and none is answered
before its writes are committed. Checked from outside, with a connection of its own, as
another process (the CLI, a second server worker) sees the file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from twostep.storage import Database

pytestmark = pytest.mark.asyncio

_INSERT = text("INSERT INTO notes (name) VALUES (:name)")


class _Refused(Exception):
    pass


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "group.db"
    db = Database(f"sqlite:///{path}")
    async with db.transaction() as tx:
        await tx.execute(text("CREATE TABLE notes (name TEXT PRIMARY KEY)"))
    yield db, path
    await db.dispose()


def _names(path: Path) -> set[str]:
    """What another connection (another process) reads in the file."""
    with sqlite3.connect(path) as outside:
        return {name for (name,) in outside.execute("SELECT name FROM notes")}


async def test_a_failing_unit_among_concurrent_ones_loses_only_its_own_writes(
    database: tuple[Database, Path],
) -> None:
    db, path = database

    async def unit(name: str) -> None:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, {"name": name})
            if name.endswith("7"):
                raise _Refused(name)

    names = [f"n{i}" for i in range(40)]  # more than one batch holds
    results = await asyncio.gather(*(unit(n) for n in names), return_exceptions=True)

    refused = {str(r) for r in results if isinstance(r, _Refused)}
    assert refused == {"n7", "n17", "n27", "n37"}
    assert all(r is None or isinstance(r, _Refused) for r in results)
    assert _names(path) == set(names) - refused


async def test_no_unit_is_answered_before_its_writes_are_committed(
    database: tuple[Database, Path],
) -> None:
    db, path = database
    seen_on_return: dict[str, bool] = {}

    async def unit(name: str) -> None:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, {"name": name})
        # Back from the unit of work: another process must find the row already.
        seen_on_return[name] = name in _names(path)

    await asyncio.gather(*(unit(f"r{i}") for i in range(25)))

    assert seen_on_return == {f"r{i}": True for i in range(25)}


async def test_a_unit_violating_a_constraint_leaves_its_batch_mates_committed(
    database: tuple[Database, Path],
) -> None:
    db, path = database
    async with db.transaction() as tx:
        await tx.execute(_INSERT, {"name": "taken"})

    async def unit(name: str) -> str:
        async with db.transaction() as tx:
            await tx.execute(_INSERT, {"name": name})
        return name

    results = await asyncio.gather(unit("a"), unit("taken"), unit("b"), return_exceptions=True)

    assert results[0] == "a"
    assert results[2] == "b"
    assert isinstance(results[1], Exception)  # the duplicate's own error, nobody else's
    assert _names(path) == {"taken", "a", "b"}
