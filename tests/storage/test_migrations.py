"""Alembic migrations on both engines: from empty to head, idempotent, and matching the models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from twostep.storage.migrate import current_revision, head_revision, upgrade
from twostep.storage.tables import metadata, organizations


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def inspect_with(engine: AsyncEngine, look: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.run_sync(look)


def table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def schema_of(conn: Connection) -> dict[str, Any]:
    """Columns, indexes, unique constraints and foreign keys of every table, comparably."""
    insp = inspect(conn)
    return {
        name: {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(name)
            ),
            "uniques": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in insp.get_unique_constraints(name)
            ),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in insp.get_foreign_keys(name)
            ),
        }
        for name in sorted(insp.get_table_names())
    }


def differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_empty_database_to_head(database_url: str, engine: AsyncEngine) -> None:
    assert await inspect_with(engine, table_names) == set()
    assert await current_revision(database_url) is None
    await upgrade(database_url)
    assert await inspect_with(engine, table_names) == set(metadata.tables)
    head = head_revision()
    assert head is not None
    assert await current_revision(database_url) == head


async def test_upgrade_again_is_a_no_op(database_url: str, engine: AsyncEngine) -> None:
    await upgrade(database_url)
    before = await inspect_with(engine, schema_of)
    async with engine.begin() as conn:
        await conn.execute(
            organizations.insert().values(
                id="o1", domain="kept", name="Kept", email_domains=[], created_at=0.0
            )
        )
    await upgrade(database_url)
    await upgrade(database_url)
    assert await inspect_with(engine, schema_of) == before
    assert await current_revision(database_url) == head_revision()
    async with engine.connect() as conn:
        assert (await conn.execute(select(organizations.c.domain))).scalars().all() == ["kept"]


async def test_migrations_match_the_models(database_url: str, engine: AsyncEngine) -> None:
    await upgrade(database_url)
    assert await inspect_with(engine, differences) == []
