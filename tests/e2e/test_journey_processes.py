"""Journey sessions live in the database: a restart between two answers changes nothing, and
consecutive answers may land on different server processes sharing one PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.test_api_errors import enroll, totp_code
from tests.e2e.test_concurrency import pg_pair
from tests.server import Api, Server, new_organization, running_server
from twostep.client import JourneyClient, Step, Success

__all__ = ["pg_pair"]

PASSWORD = "correct horse battery staple"


def test_a_journey_survives_a_server_restart(tmp_path: Path) -> None:
    with running_server(tmp_path / "node") as first:
        api = new_organization(first)[0]
        user, registration, _ = enroll(api, password=PASSWORD)
        with JourneyClient(first.base_url, client_id=f"{api.org}-production") as client:
            challenge = client.submit(
                client.start(), {"username": user["email"], "password": PASSWORD}
            )
        api.close()
        environment = first.env
    assert isinstance(challenge, Step)
    assert challenge.step_id == "TotpAuthentication"

    with (
        running_server(tmp_path / "node", env=dict(environment)) as second,
        JourneyClient(second.base_url, client_id=f"{api.org}-production") as client,
    ):
        done = client.submit(challenge, {"code": totp_code(registration, 1)})
    assert isinstance(done, Success)
    assert done.amr == ["pwd", "otp"]


def test_answers_may_land_on_different_processes(pg_pair: list[Server]) -> None:
    a, b = pg_pair
    api = new_organization(a)[0]
    user, registration, _ = enroll(api, password=PASSWORD)
    client_id = f"{api.org}-production"
    with (
        JourneyClient(a.base_url, client_id=client_id) as on_a,
        JourneyClient(b.base_url, client_id=client_id) as on_b,
    ):
        started = on_a.start()
        assert isinstance(started, Step)
        challenge = on_b.submit(started, {"username": user["email"], "password": PASSWORD})
        assert isinstance(challenge, Step)
        assert challenge.step_id == "TotpAuthentication"
        done = on_a.submit(challenge, {"code": totp_code(registration, 1)})
    assert isinstance(done, Success)
    api.close()


async def test_racing_answers_on_two_processes_advance_once(pg_pair: list[Server]) -> None:
    a, b = pg_pair
    api: Api = new_organization(a)[0]
    user, registration, _ = enroll(api, password=PASSWORD)
    with JourneyClient(a.base_url, client_id=f"{api.org}-production") as client:
        challenge = client.submit(client.start(), {"username": user["email"], "password": PASSWORD})
    assert isinstance(challenge, Step)
    url = f"/api/v1/journeys/sessions/{challenge.session}/submit"
    body = {"input": {"code": totp_code(registration, 1)}}
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=30) as on_b,
    ):
        responses = await asyncio.gather(*(http.post(url, json=body) for http in [on_a, on_b] * 5))
    answers = [
        (r.status_code, r.json().get("journeyStepId") or r.json().get("code")) for r in responses
    ]
    assert answers.count((200, "Success")) == 1, answers
    assert all(
        a in {(200, "Success"), (409, "conflict"), (410, "journey_expired")} for a in answers
    ), answers
    api.close()
