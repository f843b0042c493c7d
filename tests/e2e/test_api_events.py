"""Events through live servers (issue 12): the webhook endpoint API, delivery to a real
receiver on 127.0.0.1 verified with the ``standardwebhooks`` library, a server killed with
``kill -9`` between commit and delivery, and two processes on one PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.e2e.test_api_errors import enroll, other_client, totp_code
from tests.pg import PostgresServer, free_port
from tests.server import Api, Server, new_organization, running_server
from twostep.client import JourneyClient, Rejection, Step, Success

PASSWORD = "correct horse battery staple"
# Loopback receivers, quick retries and polls: what a test needs, set as an operator would.
FAST = {
    "TWOSTEP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "TWOSTEP_EVENT_RETRY_BASE_S": "0.2",
    "TWOSTEP_EVENT_POLL_S": "0.1",
}


@dataclass
class Receiver:
    """An HTTP receiver in a thread: keeps (headers, body) of every POST, answers ``status``."""

    port: int = 0
    status: int = 200
    delay_s: float = 0.0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def types(self) -> list[str]:
        with self.lock:
            return [json.loads(body)["type"] for _, body in self.requests]

    def wait_for(self, count: int, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= count, self.types()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(receiver.delay_s)
            with receiver.lock:
                receiver.requests.append((dict(self.headers.items()), body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def listening(receiver: Receiver) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), _handler(receiver))
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with listening(Receiver()) as started:
        yield started


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def events_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres").new_database()
    with running_server(tmp_path_factory.mktemp("events"), url, **FAST) as server:
        yield server


def hooks(api: Api, tail: str = "") -> str:
    return f"/api/v1/org/{api.org}/webhooks{tail}"


def delivered_log(api: Api, hook_id: str) -> list[dict[str, str]]:
    """An endpoint's delivery log once its newest entry is delivered (or 20 s have passed).

    The receiver holds the request before the server has read the answer and written
    ``delivered``, so a log read right after ``Receiver.wait_for`` may still say pending."""
    deadline = time.monotonic() + 20
    while True:
        log = api.request("GET", hooks(api, f"/{hook_id}/deliveries")).json()["data"]
        if (log and log[0]["status"] == "delivered") or time.monotonic() > deadline:
            return list(log)
        time.sleep(0.1)


def subscribe(api: Api, url: str, **fields: Any) -> dict[str, Any]:
    response = api.request("POST", hooks(api), json={"url": url, **fields})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


def test_endpoints_are_managed_and_receive_signed_events(
    events_server: Server, receiver: Receiver
) -> None:
    api, created = new_organization(events_server)
    with closing(api), closing(other_client(api, created["api_keys"]["sandbox"])) as sandbox:
        hook = subscribe(api, receiver.url, event_types=["totp.enrolled", "lock.paired"])
        assert hook["secret"].startswith("whsec_")
        assert hook["enabled"] is True
        listed = api.request("GET", hooks(api)).json()["data"]
        assert [e["id"] for e in listed] == [hook["id"]]
        assert "secret" not in listed[0]
        assert sandbox.request("GET", hooks(sandbox, f"/{hook['id']}")).status_code == 404

        user, _, _ = enroll(api)
        receiver.wait_for(1)
        headers, body = receiver.requests[0]
        event = Webhook(hook["secret"]).verify(body, headers)
        assert event["type"] == "totp.enrolled"
        assert event["data"]["user_id"] == user["id"]
        log = delivered_log(api, hook["id"])
        assert [(d["event_id"], d["status"]) for d in log] == [(headers["webhook-id"], "delivered")]

        rotated = api.request("POST", hooks(api, f"/{hook['id']}/secret"))
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["previous_secret_until"] is not None
        patched = api.request("PATCH", hooks(api, f"/{hook['id']}"), json={"event_types": []})
        assert patched.json()["event_types"] == []
        enroll(api)
        receiver.wait_for(2)
        headers, body = receiver.requests[1]
        for secret in (hook["secret"], rotated.json()["secret"]):
            assert Webhook(secret).verify(body, headers)["type"] == "totp.enrolled"

        assert api.request("DELETE", hooks(api, f"/{hook['id']}")).status_code == 204
        assert api.request("GET", hooks(api, f"/{hook['id']}")).status_code == 404


def test_logins_fire_succeeded_and_failed(events_server: Server, receiver: Receiver) -> None:
    api = new_organization(events_server)[0]
    with (
        closing(api),
        JourneyClient(events_server.base_url, client_id=f"{api.org}-production") as c,
    ):
        user = enroll(api, password=PASSWORD)[0]
        hook = subscribe(api, receiver.url, event_types=["login.succeeded", "login.failed"])
        answer = c.start()
        while isinstance(answer, Step):  # wrong passwords until the journey gives up
            answer = c.submit(answer, {"username": user["email"], "password": "wrong"})
        assert isinstance(answer, Rejection)
        other, registration, _ = enroll(api, password=PASSWORD)  # the first one is locked now
        challenge = c.submit(c.start(), {"username": other["email"], "password": PASSWORD})
        assert isinstance(challenge, Step)
        assert isinstance(c.submit(challenge, {"code": totp_code(registration, 1)}), Success)
        receiver.wait_for(2)
    events = [Webhook(hook["secret"]).verify(b, h) for h, b in receiver.requests]
    assert [(e["type"], e["data"]["user_id"]) for e in events] == [
        ("login.failed", None),  # never identified: who was typed is not echoed
        ("login.succeeded", other["id"]),
    ]
    assert events[0]["data"]["reason"] == "invalid_credentials"
    assert events[1]["data"]["amr"] == ["pwd", "otp"]


def test_unreachable_urls_and_unknown_types_are_refused(events_server: Server) -> None:
    api = new_organization(events_server)[0]
    with closing(api):
        internal = api.request("POST", hooks(api), json={"url": "http://10.0.0.7/hooks"})
        assert internal.status_code == 422, internal.text
        unknown = {"url": "http://127.0.0.1:9/hooks", "event_types": ["totp.code"]}
        assert api.request("POST", hooks(api), json=unknown).status_code == 422


def test_a_server_killed_before_delivery_delivers_after_restart(tmp_path: Path) -> None:
    receiver = Receiver(port=free_port())
    # The worker's first look happens at start; the next would be a minute away.
    with running_server(tmp_path / "node", **{**FAST, "TWOSTEP_EVENT_POLL_S": "60"}) as first:
        time.sleep(0.5)
        with closing(new_organization(first)[0]) as api:
            hook = subscribe(api, receiver.url)
            user, _, _ = enroll(api)  # committed: the event waits in the outbox
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        environment = dict(first.env)
    with (
        listening(receiver),
        running_server(tmp_path / "node", env={**environment, **FAST}),
    ):
        receiver.wait_for(1)
    [(headers, body)] = receiver.requests
    event = Webhook(hook["secret"]).verify(body, headers)
    assert (event["type"], event["data"]["user_id"]) == ("totp.enrolled", user["id"])


def test_two_processes_on_postgres_deliver_each_event_once(
    tmp_path: Path, postgres: PostgresServer, receiver: Receiver
) -> None:
    url = postgres.new_database()
    secrets_file = str(tmp_path / "shared-secrets.json")
    receiver.delay_s = 0.05  # slow enough that both workers find work at once
    env_b = {"TWOSTEP_DATA_DIR": str(tmp_path / "b")}
    with (
        running_server(tmp_path / "a", url, TWOSTEP_SECRETS_FILE=secrets_file, **FAST) as a,
        running_server(tmp_path / "b", url, env={**a.env, **env_b}),
        closing(new_organization(a)[0]) as api,
    ):
        hook = subscribe(api, receiver.url)
        users = [enroll(api)[0]["id"] for _ in range(8)]
        receiver.wait_for(8)
        time.sleep(1.5)  # time for a duplicate to show up, if one were coming
    ids = [headers["webhook-id"] for headers, _ in receiver.requests]
    assert len(ids) == len(set(ids)) == 8
    delivered = [
        Webhook(hook["secret"]).verify(b, h)["data"]["user_id"] for h, b in receiver.requests
    ]
    assert sorted(delivered) == sorted(users)
