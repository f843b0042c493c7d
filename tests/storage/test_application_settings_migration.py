"""Migration 0006 on both engines: the applications that exist (each environment's default one)
become public, first-party clients; and deleting an application takes its authenticators and
their recovery codes with it (ON DELETE CASCADE)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.services.support import enroll, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.services.runtime import Runtime
from twostep.storage.migrate import upgrade
from twostep.storage.repositories.applications import find_application
from twostep.storage.tables import applications, authenticators, recovery_codes


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_existing_applications_take_the_defaults(
    database_url: str, engine: AsyncEngine
) -> None:
    await upgrade(database_url, "0005")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO organizations (id, domain, name, email_domains, created_at)"
                " VALUES ('o1', 'old', 'Old', '[]', 1.0)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO environments (id, organization_id, name, auth_config, created_at)"
                " VALUES ('e1', 'o1', 'production', '{}', 1.0)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO applications"
                " (id, environment_id, client_id, name, is_default, totp_override, created_at)"
                " VALUES ('a1', 'e1', 'old-production', 'Old', :yes, NULL, 1.0)"
            ),
            {"yes": True},
        )
    await upgrade(database_url)
    async with engine.connect() as conn:
        row = (await conn.execute(select(applications))).one()
    assert row.client_secret_hash is None
    assert row.redirect_uris == []
    assert row.grant_types == ["authorization_code", "refresh_token"]
    assert (row.secret_required, row.refresh_token, row.first_party) == (False, True, True)
    assert (row.access_token_expiration, row.token_format, row.updated_at) == (3600, "jwt", None)
    assert (row.client_id, row.is_default, row.created_at) == ("old-production", True, 1.0)


async def test_deleting_an_application_cascades(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    user_id = await new_user(runtime, env, "ann@acme.test")
    await enroll(runtime, clock, env, user_id)
    async with runtime.db.transaction() as tx:
        app = await find_application(tx, env.id, None)
        assert app is not None
        await tx.execute(delete(applications).where(applications.c.id == app.id))
    async with runtime.db.transaction() as tx:
        for table in (authenticators, recovery_codes):
            assert (await tx.execute(select(func.count()).select_from(table))).scalar_one() == 0
