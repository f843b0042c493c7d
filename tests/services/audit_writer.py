"""Many transactions, each recording one audit event: half in an environment's chain, half
in the server's. Run in-process, or as a process of its own that starts writing when told to
(``python -m tests.services.audit_writer URL ENV_ID N TAG IMPL``, then a line on stdin), so
that two processes overlap. IMPL names who appends: ``core`` (the Core reference) or
``hot_path`` (the driver-level statements); the two must compose into one chain."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from twostep.storage import Database, Tx, hot_path
from twostep.storage.repositories import audit as core
from twostep.storage.repositories.audit import AuditEvent

Record = Callable[[Tx, AuditEvent], Awaitable[None]]
RECORDERS: dict[str, Record] = {"core": core.record_event, "hot_path": hot_path.record_event}


async def write_events(
    db: Database,
    environment_id: str,
    n: int,
    tag: str,
    *,
    record: Record = core.record_event,
    pause_s: float | None = None,
) -> None:
    """``n`` transactions at once; with ``pause_s``, one after the other with a pause between
    (a SQLite process: its writers take turns anyway, and the pause lets the other process in,
    where nothing would make the file lock fair)."""

    async def one(i: int) -> None:
        environment = environment_id if i % 2 else None
        details = {"i": i, "share": i / 7}
        event = AuditEvent(time.time(), environment, tag, "test.race", None, "ok", None, details)
        async with db.transaction() as tx:
            await record(tx, event)

    if pause_s is None:
        await asyncio.gather(*(one(i) for i in range(n)))
        return
    for i in range(n):
        await one(i)
        await asyncio.sleep(pause_s)


async def _main(url: str, environment_id: str, n: int, tag: str, impl: str) -> None:
    db = Database(url)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        await write_events(db, environment_id, n, tag, record=RECORDERS[impl], pause_s=0.002)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
