"""Admin tasks at service level, on both engines: the accent- and case-blind user search, the
audit trail's cursor and filters, retention, and organizations managed by a server admin."""

from __future__ import annotations

import pytest

from tests.services.support import ACTOR, new_environment
from twostep.clock import FrozenClock
from twostep.errors import NotFound, ValidationFailed
from twostep.services import organization_admin
from twostep.services.accounts import create_user, list_users, update_user
from twostep.services.audit import audit, export_audit, page_audit
from twostep.services.organizations import environment_for
from twostep.services.retention import purge_retained
from twostep.services.runtime import Runtime
from twostep.storage.repositories.audit import AuditFilter
from twostep.storage.repositories.organizations import EnvironmentRecord, Principal
from twostep.storage.repositories.throttle import add_ip_failure, count_ip_failures

DAY = 86400.0


async def _emails(rt: Runtime, env: EnvironmentRecord, q: str) -> list[str | None]:
    found = await list_users(rt, env, page=1, per_page=100, q=q)
    return sorted(v.user.email or v.user.username for v in found.data)


async def test_search_ignores_case_and_accents(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    await create_user(runtime, ACTOR, env, {"email": "ÉLODIE@x.test"})
    await create_user(runtime, ACTOR, env, {"username": "Zoë_Straße"})
    await create_user(runtime, ACTOR, env, {"email": "bob@x.test", "phone": "+33612345678"})
    assert await _emails(runtime, env, "élodie") == ["élodie@x.test"]
    assert await _emails(runtime, env, "ELODIE") == ["élodie@x.test"]
    assert await _emails(runtime, env, "zoe_strasse") == ["Zoë_Straße"]
    assert await _emails(runtime, env, "612345") == ["bob@x.test"]
    assert await _emails(runtime, env, "x.TEST") == ["bob@x.test", "élodie@x.test"]
    assert await _emails(runtime, env, "%") == []  # a wildcard is a literal character


async def test_search_follows_a_changed_email(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    view = await create_user(runtime, ACTOR, env, {"email": "old@x.test"})
    await update_user(runtime, ACTOR, env, view.user.id, {"email": "Noël@x.test"})
    assert await _emails(runtime, env, "old") == []
    assert await _emails(runtime, env, "NOEL") == ["noël@x.test"]


async def _record(rt: Runtime, env: EnvironmentRecord, action: str, n: int = 1) -> None:
    async with rt.db.transaction() as tx:
        for _ in range(n):
            await audit(tx, rt, ACTOR, action, "ok", environment_id=env.id)


async def test_cursor_pages_are_stable_under_concurrent_inserts(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    for _ in range(9):  # three events per instant: the id breaks the ties
        await _record(runtime, env, "test.old", 3)
        clock.advance(1)
    where = AuditFilter(action="test.old")
    expected = [e.id async for e in export_audit(runtime, env, where, batch=4)]
    assert len(expected) == 27
    assert expected == sorted(expected, reverse=True)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = await page_audit(runtime, env, where, limit=10, cursor=cursor)
        seen += [e.id for e in page.events]
        await _record(runtime, env, "test.old", 2)  # newer events arrive between pages
        clock.advance(1)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected


async def test_filters_by_action_and_time(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    start = clock.now()
    await _record(runtime, env, "test.a")
    clock.advance(10)
    await _record(runtime, env, "test.b")
    clock.advance(10)
    await _record(runtime, env, "test.a")
    a = await page_audit(runtime, env, AuditFilter(action="test.a"), limit=50, cursor=None)
    assert [e.at for e in a.events] == [start + 20, start]
    window = AuditFilter(since=start + 10, until=start + 20)
    b = await page_audit(runtime, env, window, limit=50, cursor=None)
    assert [e.action for e in b.events] == ["test.b"]


async def test_a_forged_cursor_is_a_validation_error(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    with pytest.raises(ValidationFailed):
        await page_audit(runtime, env, AuditFilter(), limit=5, cursor="bm90LWEtY3Vyc29y")


def _with(rt: Runtime, **settings: object) -> Runtime:
    return Runtime(
        settings=rt.settings.model_copy(update=settings),
        db=rt.db,
        keyring=rt.keyring,
        box=rt.box,
        clock=rt.clock,
        passwords=rt.passwords,
        http=rt.http,
    )


async def test_retention_purges_old_events_and_stale_address_counters(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    await _record(runtime, env, "test.ancient")
    old_minute = int(clock.now() // 60)
    async with runtime.db.transaction() as tx:
        await add_ip_failure(tx, env.id, "203.0.113.9", old_minute)
    clock.advance(20 * DAY)
    await _record(runtime, env, "test.recent")
    now_minute = int(clock.now() // 60)
    async with runtime.db.transaction() as tx:
        await add_ip_failure(tx, env.id, "203.0.113.10", now_minute)
    assert await purge_retained(runtime) == 1  # no retention set: only the stale counter
    kept = _with(runtime, audit_retention_days=10)
    # test.ancient and the two organization.create events (one per environment), in batches.
    assert await purge_retained(kept, batch=1) == 3
    left = await page_audit(runtime, env, AuditFilter(action=None), limit=500, cursor=None)
    actions = {e.action for e in left.events}
    assert "test.recent" in actions
    assert "test.ancient" not in actions
    async with runtime.db.transaction() as tx:
        assert await count_ip_failures(tx, env.id, "203.0.113.10", now_minute) == 1
        assert await count_ip_failures(tx, env.id, "203.0.113.9", old_minute) == 0


async def test_organizations_listed_updated_and_deleted(runtime: Runtime) -> None:
    env = await new_environment(runtime, "acme")
    await new_environment(runtime, "beta")
    await create_user(runtime, ACTOR, env, {"email": "a@acme.test"})
    page = await organization_admin.list_organizations(runtime, page=1, per_page=1)
    assert (page.total, [o.domain for o in page.data]) == (2, ["acme"])
    changed = await organization_admin.update_organization(
        runtime, ACTOR, "acme", {"name": "Acme Ltd", "email_domains": ["acme.test"]}
    )
    assert (changed.name, changed.email_domains) == ("Acme Ltd", ["acme.test"])
    with pytest.raises(ValidationFailed):
        await organization_admin.update_organization(runtime, ACTOR, "acme", {"domain": "x"})
    await organization_admin.delete_organization(runtime, ACTOR, "acme")
    with pytest.raises(NotFound):
        await environment_for(runtime, Principal("test", None), "acme", "production")
    with pytest.raises(NotFound):
        await organization_admin.delete_organization(runtime, ACTOR, "acme")
    # The trail outlives the organization, and tells who deleted it.
    trail = [e async for e in export_audit(runtime, env, AuditFilter())]
    assert trail[0].action == "organization.delete"
    assert trail[0].actor == ACTOR.name
    assert (await organization_admin.list_organizations(runtime, page=1, per_page=5)).total == 1
