"""The audit trail's hash chain at service level, on both engines: concurrent writers of two
processes leave one unbroken chain, retention prunes a start that verification accepts (and a
start deleted by hand is still named), the migration chains the events it finds, and an
exported copy is checked without Twostep, as docs/audit-trail.md tells a third party."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.services.audit_writer import RECORDERS, write_events
from tests.services.support import ACTOR, new_environment
from twostep.clock import FrozenClock
from twostep.services.audit import audit, export_audit
from twostep.services.audit_export import export_lines
from twostep.services.audit_verify import ChainReport, verify_chains
from twostep.services.retention import purge_retained
from twostep.services.runtime import Runtime
from twostep.storage import Database
from twostep.storage.audit_chain import GENESIS, canonical_json, event_body, link_hash
from twostep.storage.migrate import upgrade
from twostep.storage.repositories.audit import AuditFilter
from twostep.storage.repositories.organizations import EnvironmentRecord

DAY = 86400.0
ROOT = Path(__file__).parents[2]


def test_the_canonical_form_is_rfc_8785() -> None:
    # RFC 8785 appendix B numbers, and section 3.2.3's key order (UTF-16 code units).
    numbers = {1e21: "1e+21", 1e20: "100000000000000000000", 5e-324: "5e-324", 1e-7: "1e-7"}
    numbers |= {0.000001: "0.000001", -0.0: "0", 4.5: "4.5", 2.0: "2", 333333333.3333333: None}
    for value, form in numbers.items():
        assert canonical_json(value) == (form or repr(value))
    keys = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    assert [v for v in json.loads(canonical_json(keys)).values()] == [2, 4, 6, 7, 1, 5, 3]
    assert canonical_json({"b": [None, True, "é\n"], "a": {}}) == '{"a":{},"b":[null,true,"é\\n"]}'


async def _reports(rt: Runtime) -> dict[str, ChainReport]:
    return {r.name: r async for r in verify_chains(rt, {})}


async def _two_processes(database_url: str, environment_id: str) -> None:
    writers = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.services.audit_writer"),
            *(database_url, environment_id, "60", tag, impl),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for tag, impl in (("first", "core"), ("second", "hot_path"))
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert await writer.stdout.readline() == b"ready\n"
    # Both ready: they start together.
    outputs = await asyncio.gather(*(w.communicate(b"go\n") for w in writers))
    assert [w.returncode for w in writers] == [0, 0], outputs


async def test_concurrent_writers_leave_one_unbroken_chain(
    runtime: Runtime, database_url: str, engine_name: str
) -> None:
    env = await new_environment(runtime)  # two organization.create events, one per environment
    if engine_name == "sqlite":  # one writer at a time per process: two processes
        await _two_processes(database_url, env.id)
    else:  # two engines, each with many transactions at once
        first, second = Database(database_url), Database(database_url)
        try:
            await asyncio.gather(
                write_events(first, env.id, 60, "first", record=RECORDERS["core"]),
                write_events(second, env.id, 60, "second", record=RECORDERS["hot_path"]),
            )
        finally:
            await first.dispose()
            await second.dispose()

    reports = await _reports(runtime)
    assert {n: (r.broken, r.events, r.last_seq) for n, r in reports.items()} == {
        "acme/production": (None, 61, 61),
        "acme/sandbox": (None, 1, 1),
        "server": (None, 60, 60),
    }
    trail = [e async for e in export_audit(runtime, env, AuditFilter(action="test.race"))]
    places = sorted(e.seq for e in trail)
    assert places == list(range(2, 62))  # no gap, no place twice
    by_place = [e.actor for e in sorted(trail, key=lambda e: e.seq)]
    # The two writers really did write at the same time: their events interleave.
    assert sum(a != b for a, b in itertools.pairwise(by_place)) > 1, by_place


async def _record(rt: Runtime, env: EnvironmentRecord, action: str, n: int = 1) -> None:
    for _ in range(n):
        async with rt.db.transaction() as tx:
            await audit(tx, rt, ACTOR, action, "ok", environment_id=env.id)


def _retaining(rt: Runtime, days: int) -> Runtime:
    settings = rt.settings.model_copy(update={"audit_retention_days": days})
    return Runtime(settings, rt.db, rt.keyring, rt.box, rt.clock, rt.passwords, rt.http)


async def test_retention_prunes_a_start_that_verify_accepts(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    await _record(runtime, env, "test.old", 4)
    clock.advance(20 * DAY)
    await _record(runtime, env, "test.recent", 2)
    clock.advance(-19 * DAY)  # a node whose clock is behind: an old time after recent events
    await _record(runtime, env, "test.late")
    clock.advance(19 * DAY)

    # Batches of 2: the organization.create event and test.old go, the start of the chain
    # only: test.late, though old, waits behind the recent events.
    assert await purge_retained(_retaining(runtime, 10), batch=2) == 6
    report = (await _reports(runtime))["acme/production"]
    assert (report.broken, report.pruned_seq, report.events) == (None, 5, 3)
    assert report.pruned_at == clock.now()

    # The oldest event left deleted by hand, not by retention, is named.
    async with runtime.db.transaction() as tx:
        await tx.execute(text("DELETE FROM audit_events WHERE seq = 6 AND action = 'test.recent'"))
    broken = (await _reports(runtime))["acme/production"].broken
    assert broken is not None
    assert (broken.kind, broken.seq, broken.id) == ("deleted", 6, None)
    assert "after the prune point of retention" in broken.detail


async def test_the_migration_chains_the_events_it_finds(database_url: str) -> None:
    await upgrade(database_url, "0014")
    engine = create_async_engine(database_url)
    rows = [  # (id, at, environment): chained per environment by time, then id
        (1, 30.0, "e1"),
        (2, 10.0, "e1"),
        (3, 10.0, "e1"),
        (4, 5.0, None),
        (5, 20.0, "e2"),
    ]
    try:
        async with engine.begin() as conn:
            for row_id, at, environment in rows:
                await conn.execute(
                    text(
                        "INSERT INTO audit_events (id, at, environment_id, actor, action, "
                        "outcome, details) VALUES (:id, :at, :env, 'old', 'user.create', 'ok', "
                        ":details)"
                    ),
                    {"id": row_id, "at": at, "env": environment, "details": '{"n": 1.5}'},
                )
        await upgrade(database_url)
        async with engine.connect() as conn:
            chained = (
                await conn.execute(
                    text("SELECT id, seq, prev_hash, hash FROM audit_events ORDER BY id")
                )
            ).all()
            heads = dict((await conn.execute(text("SELECT chain, hash FROM audit_heads"))).all())
    finally:
        await engine.dispose()
    assert [(r.id, r.seq) for r in chained] == [(1, 3), (2, 1), (3, 2), (4, 1), (5, 1)]
    first, second, third = chained[1], chained[2], chained[0]  # e1's chain in order
    body = event_body(
        at=10.0,
        actor="old",
        action="user.create",
        user_id=None,
        outcome="ok",
        ip=None,
        details={"n": 1.5},
    )
    assert (first.prev_hash, first.hash) == (GENESIS, link_hash(GENESIS, body))
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    assert heads == {"e1": third.hash, "e2": chained[4].hash, "": chained[3].hash}


def _verify_copy(lines: list[str]) -> int:
    """A third party's check of an NDJSON export, from docs/audit-trail.md: no Twostep code."""
    events = sorted((json.loads(line) for line in lines), key=lambda e: e["seq"])
    for before, event in zip([None, *events], events, strict=False):
        fields = {k: event[k] for k in ("action", "actor", "at", "details", "ip", "outcome")}
        fields["user_id"] = event["user_id"]
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256((event["prev_hash"] + canonical).encode()).hexdigest()
        assert digest == event["hash"], event
        if before is not None:
            assert (event["seq"], event["prev_hash"]) == (before["seq"] + 1, before["hash"])
    return len(events)


@pytest.mark.parametrize("engine_name", ["sqlite"])
async def test_an_exported_copy_verifies_on_its_own(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    async with runtime.db.transaction() as tx:
        await audit(
            tx,
            runtime,
            ACTOR,
            "test.detail",
            "ok",
            environment_id=env.id,
            details={"name": "Zoë", "count": 3, "nested": {"b": [1, None], "a": True}},
        )
    await _record(runtime, env, "test.plain", 3)
    lines: list[Any] = [
        line async for line in export_lines(export_audit(runtime, env, AuditFilter()), "ndjson")
    ]
    assert _verify_copy(lines) == 5
    assert json.loads(lines[0])["seq"] == 5  # newest first, as every export
    edited = lines[3].replace('"count": 3', '"count": 4')
    assert edited != lines[3]
    with pytest.raises(AssertionError):
        _verify_copy([*lines[:3], edited, *lines[4:]])
