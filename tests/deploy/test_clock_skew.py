"""The clock skew guard: a node whose clock is off leaves the pool by itself and says why.

Two nodes on one PostgreSQL; the second runs under Debian's ``faketime`` (libfaketime), its
wall clock 40 s behind, monotonic time untouched (asyncio and uvicorn time their waits with it,
and a real skew does not move it either).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import T0
from tests.pg import PostgresServer
from tests.server import Server, running_server, server_env
from twostep.services.clock_skew import ClockSkewWatch, measure_skew, skew_check
from twostep.services.metrics import MULTIPROC_ENV, exposition
from twostep.services.readiness import not_ready_reason
from twostep.services.runtime import Runtime

SKEW_S = -40.0
# Both nodes and the database share this machine: what is left of a skew is the round trip.
TOLERANCE_S = 1.0


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[tuple[Server, Server]]:
    """A node on time and a node 40 s behind, sharing a database and a keyring."""
    data_dir = tmp_path_factory.mktemp("clock-skew")
    env = server_env(data_dir, postgres.new_database())
    with running_server(data_dir, env=dict(env)) as on_time:
        skewed_env = dict(env, FAKETIME_DONT_FAKE_MONOTONIC="1")
        faketime = ("faketime", "-f", f"{SKEW_S:+.0f}s")
        with running_server(
            data_dir, env=skewed_env, wrapper=faketime, command=("serve", "--no-migrate")
        ) as skewed:
            yield on_time, skewed


def _gauge(server: Server) -> float:
    return _skew_sample(httpx.get(f"{server.base_url}/metrics").text)


def _skew_sample(text: str) -> float:
    match = re.search(r"^twostep_clock_skew_seconds (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def _log_events(server: Server, event: str) -> list[dict[str, Any]]:
    lines = (line for line in server.logs().splitlines() if line.startswith("{"))
    return [entry for entry in map(json.loads, lines) if entry.get("event") == event]


def test_the_skewed_node_leaves_the_pool_and_says_why(nodes: tuple[Server, Server]) -> None:
    on_time, skewed = nodes
    assert httpx.get(f"{on_time.base_url}/readyz").json() == {"status": "ok"}
    # Out of the pool, not dead: liveness holds, so nothing restarts it in a loop.
    assert httpx.get(f"{skewed.base_url}/healthz").status_code == 200
    answer = httpx.get(f"{skewed.base_url}/readyz")
    assert answer.status_code == 503
    reason = answer.json()["reason"]
    match = re.search(r"clock is (\d+\.\d) s behind the database server's \(limit 5 s\)", reason)
    assert match, reason
    assert float(match.group(1)) == pytest.approx(-SKEW_S, abs=TOLERANCE_S)


def test_each_node_shows_its_skew_as_a_gauge(nodes: tuple[Server, Server]) -> None:
    on_time, skewed = nodes
    assert _gauge(on_time) == pytest.approx(0, abs=TOLERANCE_S)
    assert _gauge(skewed) == pytest.approx(SKEW_S, abs=TOLERANCE_S)


def test_the_skewed_node_logs_the_measured_skew(nodes: tuple[Server, Server]) -> None:
    on_time, skewed = nodes
    warnings = _log_events(skewed, "clock_skew.beyond_limit")
    assert warnings  # one at start; the next one a minute later
    for warning in warnings:
        assert warning["level"] == "warning"
        assert warning["skew_s"] == pytest.approx(SKEW_S, abs=TOLERANCE_S)
        assert warning["limit_s"] == 5.0
        assert "behind the database server's" in warning["reason"]
    assert _log_events(on_time, "clock_skew.beyond_limit") == []


def test_several_workers_show_the_skew_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several workers (Prometheus' multiprocess mode: one file of samples per process) a
    scrape shows the latest skew a worker measured, not the sum; one yet to measure is left out."""
    env = dict(os.environ, **{MULTIPROC_ENV: str(tmp_path)})
    for measured in ("-40.0", "-40.2", None):
        script = "from twostep.services.metrics import CLOCK_SKEW as gauge"
        if measured is not None:
            script += f"; gauge.set({measured})"
        subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert len(list(tmp_path.glob("gauge_livemostrecent_*.db"))) == 3
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    assert _skew_sample(exposition().decode()) == -40.2


async def test_the_measurement_against_the_database(runtime: Runtime, engine_name: str) -> None:
    """On PostgreSQL a node frozen in 2023 is found years behind, and this machine's own clock
    agrees with the server's; on SQLite nothing is measured, readiness is unaffected, and the
    measurement does not wait for the writer's turn."""
    url = runtime.settings.resolved_database_url
    frozen = ClockSkewWatch(runtime.settings, runtime.db, runtime.clock)
    assert await frozen.measure()
    ok, detail = await skew_check(runtime.settings, runtime.db)
    if engine_name == "sqlite":
        assert frozen.reading is None
        assert await not_ready_reason(runtime, frozen) is None
        assert (ok, detail) == (True, "not measured: SQLite runs on this one machine")
        async with runtime.db.transaction():  # another unit of work holds the writer's turn
            assert await asyncio.wait_for(measure_skew(runtime.db, url), 1) is None
        return
    assert frozen.reading is not None
    assert frozen.reading.offset_s == pytest.approx(T0 - time.time(), abs=TOLERANCE_S)
    assert 0 <= frozen.reading.uncertainty_s < TOLERANCE_S
    reason = await not_ready_reason(runtime, frozen)
    assert reason is not None
    assert "s behind the database server's (limit 5 s)" in reason
    assert ok, detail
    assert re.fullmatch(
        r"[+-]0\.\d{3} s \(\+/- 0\.\d{3} s\) against the database server's clock \(limit 5 s\)",
        detail,
    )
