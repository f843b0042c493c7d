"""Code delivery during the login journey (spec 3.11), to a real receiver on 127.0.0.1: the
code arrives signed with the key the admin reads from auth-config, and it opens the login; a
receiver that hangs costs the journey no more than the webhook's timeout.

The servers of this module admit loopback webhooks (``TWOSTEP_WEBHOOK_ALLOWED_NETWORKS``);
tests/security/test_webhook_ssrf.py shows that without it they are refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_api_errors import enroll
from tests.pg import PostgresServer
from tests.server import Api, Server, running_server
from tests.services.test_webhooks import Receiver, receiver
from twostep.services.webhooks import SIGNATURE_HEADER, verify_signature

__all__ = ["receiver"]

PASSWORD = "correct horse battery staple"
LOOPBACK = "127.0.0.0/8"


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("sqlite-server")
    with running_server(directory, TWOSTEP_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK) as server:
        yield server


@pytest.fixture(scope="module")
def pg_server(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[Server]:
    directory, url = tmp_path_factory.mktemp("pg-server"), postgres.new_database()
    with running_server(directory, url, TWOSTEP_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK) as server:
        yield server


async def to_challenge(server: Server, api: Api, email: str) -> tuple[dict[str, Any], float]:
    """Start the login journey and pass the password; returns the answer and how long it took."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        started = await http.post(
            "/api/v1/journeys/login/start", json={"client_id": f"{api.org}-production"}
        )
        session = started.json()["session"]
        began = time.monotonic()
        answer = await http.post(
            f"/api/v1/journeys/sessions/{session}/submit",
            json={"input": {"username": email, "password": PASSWORD}},
        )
        return answer.json(), time.monotonic() - began


async def test_the_code_is_posted_signed_and_opens_the_login(
    server: Server, api: Api, receiver: Receiver
) -> None:
    user, _, _ = enroll(api, password=PASSWORD)
    webhook = {"endpoint": receiver.url, "timeout_ms": 2000, "headers": {"X-Gateway": "sms"}}
    configured = api.patch_config({"delivery": {"webhook": webhook}})
    assert configured.status_code == 200, configured.text
    key = configured.json()["delivery"]["webhook"]["signing_key"]

    challenge, _ = await to_challenge(server, api, user["email"])
    assert challenge["journeyStepId"] == "TotpAuthentication"
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    assert sent.headers["x-gateway"] == "sms"
    assert verify_signature(key, sent.headers[SIGNATURE_HEADER.lower()], sent.body, now=time.time())
    body = json.loads(sent.body)
    assert body["event"] == "totp.code"
    assert body["user"]["id"] == user["id"]
    code = body["code"]
    assert code not in server.logs()

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        done = await http.post(
            f"/api/v1/journeys/sessions/{challenge['session']}/submit",
            json={"input": {"code": code}},
        )
    # The enrollment spent the code of this period: the delivered one is the next that the
    # window accepts, never the spent one (spec 3b.6).
    answer = done.json()
    assert answer["journeyStepId"] == "Success", answer
    assert answer["data"]["amr"] == ["pwd", "otp"]


async def test_a_hanging_receiver_costs_at_most_the_timeout(
    server: Server, api: Api, receiver: Receiver
) -> None:
    user, _, _ = enroll(api, password=PASSWORD)
    receiver.delay_s = 5
    webhook = {"endpoint": receiver.url, "timeout_ms": 300}
    assert api.patch_config({"delivery": {"webhook": webhook}}).status_code == 200
    challenge, took = await to_challenge(server, api, user["email"])
    assert challenge["journeyStepId"] == "TotpAuthentication"
    assert took < 2.5  # the password check, plus 0.3 s of waiting for the receiver
    receiver.delay_s = 0
    receiver.status = 500
    challenge, took = await to_challenge(server, api, user["email"])
    assert challenge["journeyStepId"] == "TotpAuthentication"
    assert 2 <= len(receiver.requests) <= 4  # bounded retries within the timeout
