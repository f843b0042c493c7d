"""The clock skew guard: this node's clock against the database server's.

A code is a function of the time, and every node judges it by its own clock (never by a remote
one mid-request). Nodes agree on "the current step", which replay protection across nodes
relies on, only while their clocks agree. The PostgreSQL server is the one clock every node of
a deployment sees, so each server process compares its node's clock with it at start and every
minute: the skew is a gauge, beyond ``TWOSTEP_MAX_CLOCK_SKEW_S`` ``/readyz`` answers 503 so that
a load balancer takes the node out, and the log says so once a minute. On SQLite there is one
machine and nothing to compare: nothing is measured (and no writer's turn is taken for it).
"""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import suppress
from dataclasses import dataclass

import structlog

from twostep.clock import Clock, SystemClock
from twostep.services.metrics import CLOCK_SKEW
from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.storage import Database
from twostep.storage.db import is_sqlite
from twostep.storage.repositories.database_clock import database_now

__all__ = [
    "PROBES",
    "RECHECK_S",
    "ClockSkewWatch",
    "SkewReading",
    "measure_skew",
    "skew_check",
    "skew_reason",
]

_log = structlog.get_logger("twostep.clock_skew")

# Quick probes per measurement; the one with the shortest round trip is kept, so one slow
# answer (a pool connection waking up, a busy server) does not move the reading.
PROBES = 3
RECHECK_S = 60.0
# After a measurement failed (the database did not answer: readiness says so already).
_RETRY_S = 5.0
# How long a starting server process waits for its first reading before it serves anyway.
_FIRST_READING_S = 5.0


@dataclass(frozen=True, slots=True)
class SkewReading:
    """This node's clock minus the database server's, in seconds (negative: the node is
    behind), known to within ``uncertainty_s``: half the round trip of the probe."""

    offset_s: float
    uncertainty_s: float

    def beyond(self, limit_s: float) -> bool:
        """Beyond the limit however the uncertainty falls: a slow probe never fails a node."""
        return abs(self.offset_s) - self.uncertainty_s > limit_s

    def describe(self) -> str:
        direction = "ahead of" if self.offset_s > 0 else "behind"
        return f"{abs(self.offset_s):.1f} s {direction} the database server's"


async def measure_skew(
    db: Database, database_url: str, *, clock: Clock | None = None, probes: int = PROBES
) -> SkewReading | None:
    """The skew of ``clock`` (the system clock, by which codes are judged) against the
    database server's; None on SQLite, where there is nothing to compare."""
    if is_sqlite(database_url):
        return None
    clock = clock or SystemClock()
    readings = []
    async with db.transaction() as tx:
        for _ in range(probes):
            sent_at, local = time.perf_counter(), clock.now()
            remote = await database_now(tx)
            half_trip = (time.perf_counter() - sent_at) / 2
            # The server read its clock somewhere in the round trip: most likely mid-way.
            readings.append(SkewReading(local + half_trip - remote, half_trip))
    return min(readings, key=lambda reading: reading.uncertainty_s)


def skew_reason(reading: SkewReading | None, limit_s: float) -> str | None:
    """Why a node whose clock is off is not ready; None while within the limit or unmeasured."""
    if reading is None or not reading.beyond(limit_s):
        return None
    return (
        f"This node's clock is {reading.describe()} (limit {limit_s:g} s): "
        "fix its time synchronization (NTP)."
    )


async def skew_check(settings: Settings, db: Database) -> tuple[bool, str]:
    """For ``twostep check``: whether this machine's clock is within the limit, and the detail."""
    limit = settings.max_clock_skew_s
    try:
        reading = await measure_skew(db, settings.resolved_database_url)
    except Exception as exc:  # the database check names the cause; this one says what it missed
        return False, f"not measured: the database did not answer ({type(exc).__name__})"
    if reading is None:
        return True, "not measured: SQLite runs on this one machine"
    detail = (
        f"{reading.offset_s:+.3f} s (+/- {reading.uncertainty_s:.3f} s) against the database "
        f"server's clock (limit {limit:g} s)"
    )
    return not reading.beyond(limit), detail


class ClockSkewWatch:
    """One per server process: measures at start and every minute; readiness reads the last
    reading (kept while a measurement fails: a database that does not answer is its own
    readiness failure)."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self.reading: SkewReading | None = None
        self._failing = False
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, rt: Runtime, *, first_within_s: float = _FIRST_READING_S
    ) -> ClockSkewWatch:
        """Watch in the background, after waiting (a bounded time) for the first reading."""
        watch = cls(rt.settings, rt.db, rt.clock)
        watch._task = asyncio.create_task(watch._watch())
        with suppress(TimeoutError):
            await asyncio.wait_for(watch._first.wait(), first_within_s)
        return watch

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def not_ready_reason(self) -> str | None:
        return skew_reason(self.reading, self._settings.max_clock_skew_s)

    async def measure(self) -> bool:
        """One measurement: the gauge, and a warning while beyond the limit. False if it failed."""
        try:
            reading = await measure_skew(
                self._db, self._settings.resolved_database_url, clock=self._clock
            )
        except Exception:  # a busy database now is no reason to stop watching
            # Said once when it starts failing, not at every retry: readiness says the rest.
            if not self._failing:
                _log.warning("clock_skew.not_measured", exc_info=True)
            self._failing = True
            if self.reading is None:
                CLOCK_SKEW.set(math.nan)  # unknown, not zero: 0 would claim a perfect clock
            return False
        self._failing = False
        was_beyond = self.not_ready_reason() is not None
        self.reading = reading
        CLOCK_SKEW.set(math.nan if reading is None else reading.offset_s)
        if reading is None:
            return True
        if (reason := self.not_ready_reason()) is not None:
            _log.warning(
                "clock_skew.beyond_limit",
                skew_s=round(reading.offset_s, 3),
                uncertainty_s=round(reading.uncertainty_s, 3),
                limit_s=self._settings.max_clock_skew_s,
                reason=reason,
            )
        elif was_beyond:
            _log.info("clock_skew.within_limit", skew_s=round(reading.offset_s, 3))
        return True

    async def _watch(self) -> None:
        while True:
            measured = await self.measure()
            self._first.set()
            if measured and self.reading is None:
                return  # SQLite: nothing to watch
            await asyncio.sleep(RECHECK_S if measured else _RETRY_S)
