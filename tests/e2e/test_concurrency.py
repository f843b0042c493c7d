"""Races settled in SQL (spec 3.5-3.6, 3.9), through real servers: many requests at one instant on
SQLite, on PostgreSQL, and split between two server processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from tests.pg import PostgresServer
from tests.server import Api, Server, new_organization, running_server
from twostep.otp import TotpParams, b32decode, code_for_step, time_step
from twostep.storage.tables import authenticators

DEPLOYMENTS = ["sqlite", "postgres", "postgres-2-processes"]
OK = (200, None)


@pytest.fixture(scope="module")
def pg_pair(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[list[Server]]:
    """Two server processes on one PostgreSQL database, sharing one secrets file."""
    root = tmp_path_factory.mktemp("pg-pair")
    url = postgres.new_database()
    secrets_file = str(root / "shared-secrets.json")
    with running_server(root / "a", url, TWOSTEP_SECRETS_FILE=secrets_file) as a:
        env_b = {**a.env, "TWOSTEP_DATA_DIR": str(root / "b")}
        with running_server(root / "b", url, env=env_b) as b:
            assert a.env["TWOSTEP_SECRETS_FILE"] == b.env["TWOSTEP_SECRETS_FILE"] == secrets_file
            yield [a, b]


@pytest.fixture(params=DEPLOYMENTS)
def nodes(request: pytest.FixtureRequest) -> list[Server]:
    """The server processes of one deployment; requests are spread over them."""
    if request.param == "postgres-2-processes":
        return list(request.getfixturevalue("pg_pair"))
    name = "sqlite_server" if request.param == "sqlite" else "pg_server"
    return [request.getfixturevalue(name)]


@pytest.fixture
def api(nodes: list[Server]) -> Iterator[Api]:
    client = new_organization(nodes[0])[0]
    yield client
    client.close()


@dataclass
class Enrolled:
    user_id: str
    secret: bytes
    recovery_codes: list[str]

    def code(self, offset: int = 0) -> str:
        params = TotpParams()
        return code_for_step(self.secret, params, time_step(time.time(), params.period) + offset)


def enroll(api: Api) -> Enrolled:
    user = api.create_user()
    registration = api.register(user["id"])
    enrolled = Enrolled(user["id"], b32decode(registration["secret"]), [])
    confirmed = api.confirm(user["id"], enrolled.code())
    assert confirmed.status_code == 200, confirmed.text
    enrolled.recovery_codes = confirmed.json()["recovery_codes"]
    return enrolled


def answer(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    return response.status_code, body.get("code") if response.status_code != 200 else None


async def race(
    nodes: list[Server], api: Api, path: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    """POST every body at once, round-robin over the nodes, released together by a barrier."""
    headers = {"Authorization": f"Bearer {api.key}"}
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    clients = [
        httpx.AsyncClient(base_url=n.base_url, headers=headers, timeout=60, limits=limits)
        for n in nodes
    ]
    try:
        # Open the connections first, so that the requests leave as close together as can be.
        await asyncio.gather(
            *(clients[i % len(clients)].get("/healthz") for i in range(len(bodies)))
        )
        barrier = asyncio.Barrier(len(bodies))

        async def post(i: int, body: dict[str, Any]) -> httpx.Response:
            await barrier.wait()
            return await clients[i % len(clients)].post(path, json=body)

        return await asyncio.gather(*(post(i, b) for i, b in enumerate(bodies)))
    finally:
        for client in clients:
            await client.aclose()


async def database_row(server: Server, user_id: str) -> Any:
    url = server.env.get(
        "TWOSTEP_DATABASE_URL", f"sqlite+aiosqlite:///{server.data_dir / 'twostep.db'}"
    )
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            stmt = select(authenticators).where(authenticators.c.user_id == user_id)
            return (await conn.execute(stmt)).one()
    finally:
        await engine.dispose()


async def test_one_code_is_accepted_once(nodes: list[Server], api: Api) -> None:
    user = enroll(api)
    code = user.code(+1)  # fresh: later than the confirming code, inside the window
    responses = await race(
        nodes, api, api.user_path(user.user_id, "/totp/verify"), [{"code": code}] * 40
    )
    assert Counter(answer(r) for r in responses) == {OK: 1, (400, "code_reused"): 39}
    assert next(r for r in responses if r.status_code == 200).json() == {"valid": True}


async def test_one_recovery_code_is_spent_once(nodes: list[Server], api: Api) -> None:
    patched = api.patch_config({"recovery_codes": {"once_per_hours": 0}})
    assert patched.status_code == 200, patched.text
    user = enroll(api)
    responses = await race(
        nodes,
        api,
        api.user_path(user.user_id, "/recovery-codes/verify"),
        [{"code": user.recovery_codes[0]}] * 20,
    )
    assert Counter(answer(r) for r in responses) == {OK: 1, (400, "recovery_code_invalid"): 19}
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.json()["recovery_codes_remaining"] == 4
    shown = api.request("GET", api.user_path(user.user_id)).json()
    assert shown["two_factor"]["recovery_codes_remaining"] == 4
    # Without the 24 h rule, another code still works right away.
    again = api.request(
        "POST",
        api.user_path(user.user_id, "/recovery-codes/verify"),
        json={"code": user.recovery_codes[1]},
    )
    assert again.status_code == 200, again.text


async def test_one_recovery_code_a_day_among_many(nodes: list[Server], api: Api) -> None:
    user = enroll(api)
    codes = user.recovery_codes
    assert len(codes) == 5
    responses = await race(
        nodes,
        api,
        api.user_path(user.user_id, "/recovery-codes/verify"),
        [{"code": codes[i % 5]} for i in range(20)],
    )
    seen = Counter(answer(r) for r in responses)
    assert seen[OK] == 1, seen
    assert set(seen) <= {OK, (429, "recovery_code_rate_limited"), (400, "recovery_code_invalid")}
    # Only the copies of the winning code can find it spent; every other one meets the 24 h rule.
    assert seen[(400, "recovery_code_invalid")] <= 3, seen
    shown = api.request("GET", api.user_path(user.user_id)).json()
    assert shown["two_factor"]["recovery_codes_remaining"] == 4


async def test_concurrent_wrong_codes_count_exactly(nodes: list[Server], api: Api) -> None:
    user = enroll(api)
    right = user.code(+1)
    wrong = next(
        f"{n:06d}"
        for n in range(1_000_000)
        if f"{n:06d}" not in {user.code(k) for k in range(-2, 4)}
    )
    responses = await race(
        nodes, api, api.user_path(user.user_id, "/totp/verify"), [{"code": wrong}] * 30
    )
    # max_failures (5) are evaluated and counted; the lock they set refuses the other 25.
    assert Counter(answer(r) for r in responses) == {
        (400, "invalid_code"): 5,
        (429, "locked_out"): 25,
    }
    locked = api.verify(user.user_id, right)
    assert (locked.status_code, locked.json()["code"]) == (429, "locked_out")
    assert 0 < int(locked.headers["Retry-After"]) <= 30
    row = await database_row(nodes[0], user.user_id)
    assert row.failures == 5
    assert 0 < row.locked_until - time.time() <= 30
