"""The engines and the unit of work: one transaction per service call.

PostgreSQL is reached through SQLAlchemy's async engine (asyncpg). SQLite is different: its
calls are short, local and serialized by the database anyway, and running each statement through
the async adapter (a greenlet switch and, with aiosqlite, a thread hop per call) costs many times
what SQLite needs. So the SQLite unit of work runs a plain synchronous connection inline on the
event loop, behind the same ``Tx`` interface. Writers of several server processes take turns
through an advisory file lock (``flock``) beside the database, waited for in a worker thread, so
the loop never blocks and no process spins on SQLite's busy state; ``BEGIN IMMEDIATE`` is still
retried with ``asyncio.sleep`` for writers outside the servers (the CLI, migrations).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable

__all__ = ["SQLITE_BUSY_TIMEOUT_S", "Database", "Tx", "is_sqlite"]

SQLITE_BUSY_TIMEOUT_S = 30.0
_FIRST_PAUSE_S = 0.0002
_MAX_PAUSE_S = 0.005


class Tx(Protocol):
    """What repositories see of a unit of work: statements, savepoints and the dialect."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: Any = None, /
    ) -> CursorResult[Any]: ...

    def begin_nested(self) -> AbstractAsyncContextManager[Any]: ...


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class Database:
    """Owns the engine; ``transaction()`` is the unit of work every service call runs in."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self._sqlite = _SqliteStore(url, echo=echo) if is_sqlite(url) else None
        self._async: AsyncEngine | None = (
            None
            if self._sqlite
            else create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, echo=echo
            )
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """Commit when the block ends, roll back when it raises; repositories never commit.

        Inside the block await nothing but ``tx.execute`` (and ``tx.begin_nested``): on SQLite
        the unit of work holds the one writer's turn of every server process, and its statements
        run inline on the event loop, so awaiting anything else (an HTTP call, ``to_thread``,
        another transaction) stalls every other writer, or deadlocks on the turn. Do slow work
        before or after the block. Every unit of work, a read-only one too, takes that turn.
        """
        if self._sqlite is not None:
            async with self._sqlite.transaction() as tx:
                yield tx
            return
        assert self._async is not None
        async with self._async.begin() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.transaction() as tx:
            await tx.execute(_SELECT_ONE)

    async def dispose(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._async is not None:
            await self._async.dispose()


class _SqliteTx:
    """A synchronous connection behind the async ``Tx`` interface; every call runs inline."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None, /) -> CursorResult[Any]:
        return self._connection.execute(statement, parameters)

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        with self._connection.begin_nested():
            yield


class _SqliteStore:
    def __init__(self, url: str, *, echo: bool) -> None:
        database = make_url(url).database or ""
        self.engine: Engine = create_engine(
            f"sqlite:///{database}",
            echo=echo,
            pool_size=1,
            max_overflow=1,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        )
        event.listen(self.engine, "connect", _sqlite_on_connect)
        event.listen(self.engine, "begin", _sqlite_begin_immediate)
        # One writer at a time anyway: taking turns inside the process keeps to one connection,
        # and the file lock makes the processes take turns without polling.
        self._turn = asyncio.Lock()
        self._lock_path = f"{database}.writers"
        self._lock_fd: int | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._turn:
            await self._take_file_lock()
            try:
                connection = await self._begin()
                with connection:
                    try:
                        yield _SqliteTx(connection)
                    except BaseException:
                        connection.rollback()
                        raise
                    connection.commit()
            finally:
                fcntl.flock(self._file_lock(), fcntl.LOCK_UN)

    def _file_lock(self) -> int:
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock_fd

    async def _take_file_lock(self) -> None:
        fd = self._file_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiter = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(waiter)
        except asyncio.CancelledError:
            # The thread will get the lock whatever happens: wait for it, then give it back.
            await waiter
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise

    def close(self) -> None:
        self.engine.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _begin(self) -> Connection:
        """A connection in a BEGIN IMMEDIATE transaction, waiting (asynchronously) for the lock."""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
        pause = _FIRST_PAUSE_S
        while True:
            connection = self.engine.connect()
            try:
                connection.begin()
                return connection
            except OperationalError as exc:
                connection.close()
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE_S)


def _sqlite_on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # The driver must not open transactions itself: _sqlite_begin_immediate does.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    # WAL lets readers outside the servers (the CLI, backups, sqlite3) run beside the writer; the
    # servers' own units of work all take the writer's turn (reads are short and run inline, so
    # a separate read path would buy little). NORMAL is durable across application crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # From here on nothing waits inside SQLite (which would block the event loop): only
    # BEGIN IMMEDIATE can meet another writer, and _SqliteStore._begin retries it.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    # A deferred transaction that reads and then writes fails with SQLITE_BUSY_SNAPSHOT when
    # another process wrote in between; taking the write lock up front avoids that.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_SELECT_ONE = text("SELECT 1")
