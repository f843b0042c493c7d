"""SQLite for the async engine without a thread hop per statement.

SQLAlchemy's aiosqlite dialect normally runs each call on aiosqlite's worker thread; on these
machines every hop costs 0.3-0.8 ms, several times what SQLite itself needs for our short
statements (WAL, local file). This shim gives the dialect the few methods of
``aiosqlite.Connection`` it uses and runs them inline on the event loop. A statement that waits
for another process's write lock blocks this loop for that wait (``busy_timeout``): fine for the
embedded single-machine default, whose writes are serialized by SQLite anyway.

Except for ``BEGIN IMMEDIATE``, the one statement that waits for another process as a matter of
course: SQLite's own busy handler would sleep 1, 2, 5, 10 ms... with the loop blocked, so that
one is retried here with ``asyncio.sleep``, and the loop serves other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["BEGIN_IMMEDIATE", "connect_inline"]

BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
_FIRST_PAUSE_S = 0.0002
_MAX_PAUSE_S = 0.005


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(exc)


class _Cursor:
    def __init__(self, cursor: sqlite3.Cursor, busy_timeout_s: float) -> None:
        self._cursor = cursor
        self._busy_timeout_s = busy_timeout_s

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Cursor:
        if sql == BEGIN_IMMEDIATE:
            await self._begin_immediate()
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def _begin_immediate(self) -> None:
        deadline = time.monotonic() + self._busy_timeout_s
        pause = _FIRST_PAUSE_S
        self._cursor.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self._cursor.execute(BEGIN_IMMEDIATE)
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() > deadline:
                        raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE_S)
        finally:
            self._cursor.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _CursorContext:
    def __init__(self, connection: sqlite3.Connection, busy_timeout_s: float) -> None:
        self._connection = connection
        self._busy_timeout_s = busy_timeout_s

    async def __aenter__(self) -> _Cursor:
        return _Cursor(self._connection.cursor(), self._busy_timeout_s)


class InlineConnection:
    """What SQLAlchemy's aiosqlite adapter calls on an ``aiosqlite.Connection``."""

    def __init__(self, connection: sqlite3.Connection, busy_timeout_s: float) -> None:
        self._conn = connection
        self._busy_timeout_s = busy_timeout_s
        # The adapter tests this attribute to know whether the connection is still open.
        self._connection: sqlite3.Connection | None = connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _CursorContext:
        return _CursorContext(self._conn, self._busy_timeout_s)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def connect_inline(path: str, timeout_s: float) -> Any:
    """An ``async_creator`` for ``create_async_engine``: autocommit mode, we send BEGIN."""

    async def create() -> InlineConnection:
        connection = sqlite3.connect(
            path,
            timeout=timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        return InlineConnection(connection, timeout_s)

    return create
