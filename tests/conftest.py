"""Shared fixtures: a real PostgreSQL for the session, databases on both engines, live servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.pg import PostgresServer, running_postgres
from tests.server import Api, Server, new_organization, running_server
from twostep.clock import FrozenClock
from twostep.passwords import PasswordHasher
from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.storage.migrate import upgrade
from twostep.wiring import build_runtime

ENGINES = ["sqlite", "postgres"]
# 2023-11-14T22:13:20Z: a fixed instant for tests that freeze the clock.
T0 = 1_700_000_000.0


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database on the engine under test (a file for SQLite, a new database on PG)."""
    if engine_name == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'twostep.db'}"
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.new_database()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Runtime]:
    """Services on a migrated database, with a frozen clock and cheap password hashing."""
    await upgrade(database_url)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    built = build_runtime(settings)
    rt = Runtime(
        settings=settings,
        db=built.db,
        keyring=built.keyring,
        box=built.box,
        clock=clock,
        passwords=PasswordHasher(time_cost=1, memory_cost=64),
        http=built.http,
    )
    try:
        yield rt
    finally:
        try:
            await rt.http.aclose()
        finally:
            await rt.db.dispose()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("sqlite-server")) as server:
        yield server


@pytest.fixture(scope="module")
def pg_server(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("pg-server"), postgres.new_database()) as server:
        yield server


@pytest.fixture(params=ENGINES)
def server(request: pytest.FixtureRequest) -> Server:
    """A live server on each engine, shared by the tests of a module."""
    return request.getfixturevalue(f"{'sqlite' if request.param == 'sqlite' else 'pg'}_server")  # type: ignore[no-any-return]


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    """A client on the production key of a fresh organization on the live server."""
    client = new_organization(server)[0]
    yield client
    client.close()
