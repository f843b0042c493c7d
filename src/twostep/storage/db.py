"""The engines and the unit of work: one transaction per service call.

PostgreSQL is reached through SQLAlchemy's async engine (asyncpg). SQLite is different: its
calls are short, local and serialized by the database anyway, and running each statement through
the async adapter (a greenlet switch and, with aiosqlite, a thread hop per call) costs many times
what SQLite needs. So the SQLite unit of work runs a plain synchronous connection inline on the
event loop, behind the same ``Tx`` interface. Writers of several server processes take turns
through an advisory file lock (``flock``) beside the database, waited for in a worker thread, so
the loop never blocks and no process spins on SQLite's busy state; ``BEGIN IMMEDIATE`` is still
retried with ``asyncio.sleep`` for writers outside the servers (the CLI, migrations). Units of
work of one process that queue for the turn share one transaction and one COMMIT (group commit,
see ``_SqliteStore.transaction``), each in its own savepoint.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable

__all__ = [
    "SQLITE_BUSY_TIMEOUT_S",
    "Database",
    "Tx",
    "asyncpg_connection",
    "is_sqlite",
    "sqlite_connection",
]

_log = structlog.get_logger("twostep.storage")

SQLITE_BUSY_TIMEOUT_S = 30.0
_FIRST_PAUSE_S = 0.0002
_MAX_PAUSE_S = 0.005
# Units of work that may share one SQLite transaction (group commit) while more of the same
# process wait: bounds how long the other processes' writers wait for the file lock.
_BATCH_UNITS = 32
# How much of the database file each connection reads through a memory map (see
# _sqlite_on_connect): address space, not memory; the pages are the OS's file cache.
_MMAP_BYTES = 1 << 30
# Commits (batches) of a server process between two checkpoints of the WAL it starts. Often
# and small: a checkpoint copies every page written since the last one, and while a large one
# ran, code checks waited (measured p99 with a million authenticators: 48-72 ms every 200
# commits, 36-44 every 50, 13-20 every 10, about as with ten thousand; 13 with none).
_COMMITS_PER_CHECKPOINT = 10


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

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """Commit when the block ends, roll back when it raises; repositories never commit.

        Inside the block await nothing but ``tx.execute`` (and ``tx.begin_nested``): on SQLite
        the unit of work holds the one writer's turn of every server process, and its statements
        run inline on the event loop, so awaiting anything else (an HTTP call, ``to_thread``,
        another transaction) stalls every other writer, or deadlocks on the turn. Do slow work
        before or after the block. Every unit of work, a read-only one too, takes that turn.
        """
        # The engine's own context manager, not one wrapped around it: this runs on every
        # request, and each generator-based layer costs as much as a statement on the driver.
        if self._sqlite is not None:
            return self._sqlite.transaction()
        assert self._async is not None
        return self._async.begin()

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

    def __init__(self, connection: Connection, driver: sqlite3.Connection) -> None:
        self._connection = connection
        self._driver = driver

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None, /) -> CursorResult[Any]:
        return self._connection.execute(statement, parameters)

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        with self._connection.begin_nested():
            yield

    def driver_connection(self) -> sqlite3.Connection:
        """The ``sqlite3`` connection underneath, in this unit of work's transaction."""
        return self._driver


def _driver_of(connection: Connection) -> sqlite3.Connection:
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


def sqlite_connection(tx: Tx) -> sqlite3.Connection:
    """The ``sqlite3`` connection under a SQLite unit of work, inside its transaction: what the
    hot path's statements run on (``storage.hot_path``), so they commit or roll back with it."""
    assert isinstance(tx, _SqliteTx)
    return tx.driver_connection()


async def asyncpg_connection(tx: Tx) -> Any:
    """The ``asyncpg`` connection under a PostgreSQL unit of work, inside its transaction."""
    assert isinstance(tx, AsyncConnection)
    raw = await tx.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs: a
    # statement sent around it before that would run outside the unit of work's transaction.
    if adapted._transaction is None:
        await adapted._start_transaction()
    return raw.driver_connection


@dataclass(slots=True)
class _Batch:
    """An open SQLite transaction that units of work of one process share (group commit)."""

    connection: Connection
    done: asyncio.Future[None]  # the outcome of its COMMIT
    units: int = 0
    closing: bool = False  # its COMMIT is scheduled for the loop's next turn
    lost: BaseException | None = None  # why SQLite rolled it back under a unit, if it did


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
        self._queued = 0  # units of work of this process waiting for the turn
        self._batch: _Batch | None = None  # the open transaction units of work share
        self._database = database
        self._connection: Connection | None = None  # see _begin
        self._commits = 0  # since the last checkpoint this process started
        self._checkpointing = False
        self._checkpointer: sqlite3.Connection | None = None  # _checkpoint's own connection
        self._lock_path = f"{database}.writers"
        self._lock_fd: int | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """Group commit: units of work that queue for the turn while one runs share its
        transaction, each inside a savepoint of its own, and one COMMIT ends them all.

        Each unit's result stands or falls alone (a failing unit rolls back to its savepoint)
        and none is answered before the shared COMMIT has succeeded: a unit leaves this block
        only after it, or with its error. The BEGIN, the COMMIT (SQLite's most expensive
        statement here: it writes the WAL) and the file lock's handover between processes are
        paid once per batch instead of once per request. Units run inline, one after the
        other, so a batch gathers the units of the requests the event loop handles in one turn
        (it read them together) and those that queued while the process waited for the file
        lock (another process was writing): its COMMIT waits for the loop's next turn, unless
        ``_BATCH_UNITS`` units filled it first, which bounds how long the other processes'
        writers wait. It stays open no longer than that turn: answers are sent after the
        COMMIT, and other work would hold every other process's writers for nothing.
        """
        self._queued += 1
        try:
            await self._turn.acquire()
        except BaseException:
            self._queued -= 1
            self._end_batch_if_idle()  # it was to continue the batch, and now will not
            raise
        self._queued -= 1
        batch: _Batch | None = None
        try:
            batch = self._batch or await self._open_batch()
            driver = _driver_of(batch.connection)
            driver.execute("SAVEPOINT unit")
            try:
                yield _SqliteTx(batch.connection, driver)
            except BaseException as exc:
                if driver.in_transaction:
                    driver.execute("ROLLBACK TO unit")
                    driver.execute("RELEASE unit")
                else:  # SQLite rolled the whole transaction back (a full disk, an I/O error)
                    batch.lost = exc
                raise
            driver.execute("RELEASE unit")
        finally:
            if batch is not None:
                batch.units += 1
                if batch.units >= _BATCH_UNITS:
                    self._end_batch()
                elif self._queued == 0 and not batch.closing:
                    # Not now: requests the loop already holds (read in the same turn of the
                    # loop) reach their unit of work before this runs, and join the batch.
                    batch.closing = True
                    asyncio.get_running_loop().call_soon(self._close_batch, batch)
            self._turn.release()
        if batch is not None:  # answer only once the COMMIT is done (its error, if it failed)
            await asyncio.shield(batch.done)

    async def _open_batch(self) -> _Batch:
        await self._take_file_lock()
        try:
            connection = await self._begin()
        except BaseException:
            fcntl.flock(self._file_lock(), fcntl.LOCK_UN)
            raise
        self._batch = _Batch(connection, asyncio.get_running_loop().create_future())
        return self._batch

    def _close_batch(self, batch: _Batch) -> None:
        batch.closing = False
        # Units still queued for the turn join the batch; the last of them closes it.
        if self._batch is batch:
            self._end_batch_if_idle()

    def _end_batch(self) -> None:
        """COMMIT the open batch (ROLLBACK if that fails), give back the file lock and let
        every unit of the batch go, with the COMMIT's error if there was one."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            try:
                if batch.lost is not None:
                    raise batch.lost  # the earlier units' work went with it
                batch.connection.commit()
            except BaseException as exc:
                batch.connection.rollback()
                batch.done.set_exception(exc)
            else:
                batch.done.set_result(None)
                self._commits += 1
        finally:
            fcntl.flock(self._file_lock(), fcntl.LOCK_UN)
        if self._commits >= _COMMITS_PER_CHECKPOINT and not self._checkpointing:
            self._commits, self._checkpointing = 0, True
            checkpoint = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
            checkpoint.add_done_callback(self._checkpointed)

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file, beside the writers (a worker thread, a
        connection of its own): SQLite would otherwise do it, and its fsync, inside the COMMIT
        that crosses ``wal_autocheckpoint``, holding every process's writers meanwhile.
        PASSIVE waits for nobody; what it cannot copy now, the next one does."""
        if self._checkpointer is None:  # one at a time (_checkpointing): kept between them
            self._checkpointer = sqlite3.connect(
                self._database, timeout=0, isolation_level=None, check_same_thread=False
            )
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not done.cancelled() and done.exception() is not None:
            _log.warning("sqlite.checkpoint_failed", error=str(done.exception()))

    def _end_batch_if_idle(self) -> None:
        if self._batch is not None and self._queued == 0 and not self._turn.locked():
            self._end_batch()

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
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()
        if self._checkpointer is not None and not self._checkpointing:
            self._checkpointer.close()  # (one still checkpointing goes with its thread)
            self._checkpointer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _begin(self) -> Connection:
        """The process's connection in a BEGIN IMMEDIATE transaction, waiting (asynchronously)
        for SQLite's write lock. One connection is kept for the process's life: its units of
        work take turns anyway, and a pool checkout and return per batch cost as much as the
        statements of a code check."""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
        pause = _FIRST_PAUSE_S
        while True:
            if self._connection is None or self._connection.closed:
                self._connection = self.engine.connect()
            try:
                self._connection.begin()
                return self._connection
            except OperationalError as exc:
                self._connection.rollback()
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
    # Servers checkpoint from a worker thread (_SqliteStore._checkpoint) every few commits;
    # this, far above what they leave in the WAL, is for everyone else (the CLI).
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Several server processes write in turns, and SQLite drops a connection's page cache
    # whenever another one wrote: read through the page cache, every turn starts cold (the
    # bench measured some 150 us a code check). Mapped, the database file is read from the OS's
    # cache, shared by all processes, without a copy or a system call per page.
    cursor.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
    # From here on nothing waits inside SQLite (which would block the event loop): only
    # BEGIN IMMEDIATE can meet another writer, and _SqliteStore._begin retries it.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    # A deferred transaction that reads and then writes fails with SQLITE_BUSY_SNAPSHOT when
    # another process wrote in between; taking the write lock up front avoids that.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_SELECT_ONE = text("SELECT 1")
