"""Code delivery by webhook (spec 3.11), against a real HTTP receiver on 127.0.0.1.

The receiver is a small HTTP/1.1 server on ``asyncio.start_server`` that records what it is
sent and answers as told: a status, a script of statuses, or nothing for a while.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

import pytest
import structlog

from tests.pg import free_port
from tests.services.support import ACTOR, new_environment
from twostep.clock import FrozenClock
from twostep.crypto import webhook_signing_key
from twostep.logs import configure_logging
from twostep.policy import WebhookConfig
from twostep.services.accounts import create_user
from twostep.services.organizations import (
    environment_for,
    get_auth_config,
    patch_auth_config,
)
from twostep.services.runtime import Runtime, config_of
from twostep.services.webhooks import SIGNATURE_HEADER, deliver_code, sign, verify_signature
from twostep.storage.repositories.organizations import EnvironmentRecord, Principal
from twostep.storage.repositories.users import UserRecord

CODE = "731942"
GATEWAY_SECRET = "sms-gateway-credential-9f3a"
# The conftest's frozen clock stands at 2023-11-14T22:13:20Z; codes expire 30 s later.
T0 = 1_700_000_000.0
EXPIRES_AT = T0 + 30


@pytest.fixture(autouse=True)
def _frozen_at_t0(clock: FrozenClock) -> None:
    assert clock.now() == T0


def allowing(rt: Runtime, *networks: str) -> Runtime:
    """``rt`` as if started with ``TWOSTEP_WEBHOOK_ALLOWED_NETWORKS`` set to ``networks``."""
    allowed = tuple(ip_network(network) for network in networks)
    return dataclasses.replace(
        rt, settings=rt.settings.model_copy(update={"webhook_allowed_networks": allowed})
    )


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    """The receivers listen on 127.0.0.1: this module's runtime admits loopback webhooks."""
    return allowing(runtime, "127.0.0.0/8")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers ``status`` (or the next of ``script``) after ``delay_s``; keeps every request."""

    port: int = 0
    status: int = 200
    script: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/totp?tenant=acme"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *lines = head.split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, path, headers, body))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                status = self.script.pop(0) if self.script else self.status
                writer.write(
                    f"HTTP/1.1 {status} Whatever\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: 2\r\n\r\nok".encode()
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.handlers.discard(task)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        for task in list(receiver.handlers):
            task.cancel()
        await asyncio.gather(*receiver.handlers, return_exceptions=True)
        await server.wait_closed()


@dataclass
class Logs:
    """What the server's log handler wrote, and anything else printed to stdout or stderr."""

    stream: io.StringIO
    capsys: pytest.CaptureFixture[str]

    def text(self) -> str:
        printed = self.capsys.readouterr()
        return self.stream.getvalue() + printed.out + printed.err

    def deliveries(self) -> list[dict[str, Any]]:
        lines = self.stream.getvalue().splitlines()
        return [json.loads(line) for line in lines if "webhook.delivery" in line]


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    """The server's own log set-up (``configure_logging``) at debug level; restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = structlog.get_config()
    configure_logging("debug")
    stream = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield Logs(stream, capsys)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**saved)


async def env_with_webhook(
    rt: Runtime, receiver_url: str, *, timeout_ms: int = 2000, domain: str = "acme"
) -> tuple[EnvironmentRecord, WebhookConfig, str]:
    """An environment whose auth config sends codes to ``receiver_url``; and the admin's key."""
    env = await new_environment(rt, domain)
    webhook = {
        "endpoint": receiver_url,
        "timeout_ms": timeout_ms,
        "headers": {"Authorization": f"Bearer {GATEWAY_SECRET}", "X-Tenant": domain},
    }
    await patch_auth_config(rt, ACTOR, env, {"delivery": {"webhook": webhook}})
    shown = await get_auth_config(rt, env)
    env = await environment_for(rt, Principal("test", None), domain, "production")
    configured = config_of(env.auth_config).delivery.webhook
    assert configured is not None
    return env, configured, shown["delivery"]["webhook"]["signing_key"]


async def a_user(rt: Runtime, env: EnvironmentRecord) -> UserRecord:
    values = {"email": "alice@acme.test", "username": "alice", "phone": "+15550100"}
    return (await create_user(rt, ACTOR, env, values)).user


async def deliver(
    rt: Runtime, env: EnvironmentRecord, webhook: WebhookConfig, user: UserRecord
) -> bool:
    outcome = await deliver_code(rt, env, webhook, user=user, code=CODE, expires_at=EXPIRES_AT)
    return outcome == "delivered"


class TickingClock:
    """A clock one second later at every reading, to tell attempts apart."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        self.at += 1
        return self.at


# -- the signature, on its own ------------------------------------------------------------


def test_sign_is_hmac_of_timestamp_dot_body() -> None:
    header = sign("k", b"{}", 1_700_000_000)
    digest = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={digest}"
    assert verify_signature("k", header, b"{}", now=1_700_000_000)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=1700000000",
        "v1=00",
        "t=,v1=00",
        "t=abc,v1=00",
        "t=-1700000000,v1=00",
        "t=١٧٠٠٠٠٠٠٠٠,v1=00",
        "t=1700000000,t=1700000000,v1=00",
        "t=1700000000,v1=é",
        "t=1700000000,v1=\ud800",
        "t=99999999999999999999999999,v1=00",
        "t=1700000000,v1=00," + "x" * 5000,
    ],
)
def test_malformed_headers_are_false_not_errors(header: str) -> None:
    assert verify_signature("k", header, b"{}", now=1_700_000_000) is False


def test_a_second_v1_entry_may_match_and_a_nan_clock_matches_nothing() -> None:
    good = sign("k", b"{}", 1_700_000_000)
    assert verify_signature("k", good + ",v1=" + "0" * 64, b"{}", now=1_700_000_000)
    other = sign("old", b"{}", 1_700_000_000).split(",")[1]
    assert verify_signature("k", f"{other},{good}", b"{}", now=1_700_000_000)
    assert not verify_signature("k", good, b"{}", now=float("nan"))


# -- delivery to a live receiver ---------------------------------------------------------


async def test_the_signed_body_arrives_with_the_configured_headers(
    runtime: Runtime, receiver: Receiver, logs: Logs
) -> None:
    env, webhook, admin_key = await env_with_webhook(runtime, receiver.url)
    user = await a_user(runtime, env)
    assert await deliver(runtime, env, webhook, user) is True

    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hooks/totp?tenant=acme"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {GATEWAY_SECRET}"
    assert request.headers["x-tenant"] == "acme"
    assert json.loads(request.body) == {
        "event": "totp.code",
        "organization": "acme",
        "environment": "production",
        "user": {
            "id": user.id,
            "email": "alice@acme.test",
            "username": "alice",
            "phone": "+15550100",
        },
        "code": CODE,
        "expires_at": "2023-11-14T22:13:50+00:00",
    }

    signature = request.headers[SIGNATURE_HEADER.lower()]
    assert signature.startswith(f"t={int(T0)},v1=")
    assert admin_key == webhook_signing_key(runtime.keyring, env.id)
    assert verify_signature(admin_key, signature, request.body, now=T0 + 299)
    assert not verify_signature("0" * 64, signature, request.body, now=T0)
    tampered = request.body.replace(CODE.encode(), b"000000")
    assert not verify_signature(admin_key, signature, tampered, now=T0)
    assert not verify_signature(admin_key, signature, request.body, now=T0 + 301)
    assert not verify_signature(admin_key, signature, request.body, now=T0 - 301)
    assert verify_signature(admin_key, signature, request.body, now=T0 + 600, tolerance_s=600)

    assert [(e["outcome"], e["status"], e["attempts"], e["host"]) for e in logs.deliveries()] == [
        ("delivered", 200, 1, "127.0.0.1")
    ]
    text = logs.text()
    assert "httpcore" in text  # the debug level is on: the HTTP client's own lines are there
    for secret in (CODE, GATEWAY_SECRET, admin_key, request.body.decode()):
        assert secret not in text


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_are_retried_three_times_then_false(
    runtime: Runtime, receiver: Receiver, status: int, logs: Logs
) -> None:
    receiver.status = status
    env, webhook, admin_key = await env_with_webhook(runtime, receiver.url)
    user = await a_user(runtime, env)
    ticking = dataclasses.replace(runtime, clock=TickingClock(T0))
    assert await deliver(ticking, env, webhook, user) is False
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1
    # Each attempt is signed afresh: three timestamps, each signature valid for its own.
    stamps = [r.headers["twostep-signature"].split(",")[0] for r in receiver.requests]
    assert stamps == [f"t={int(T0) + n}" for n in (1, 2, 3)]
    for r in receiver.requests:
        assert verify_signature(admin_key, r.headers["twostep-signature"], r.body, now=T0)
    [event] = logs.deliveries()
    assert (event["outcome"], event["status"], event["attempts"]) == ("failed", status, 3)
    text = logs.text()
    assert CODE not in text
    assert GATEWAY_SECRET not in text


async def test_a_retry_that_succeeds_is_true(runtime: Runtime, receiver: Receiver) -> None:
    receiver.script = [503, 200]
    env, webhook, _ = await env_with_webhook(runtime, receiver.url)
    assert await deliver(runtime, env, webhook, await a_user(runtime, env)) is True
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 302])
async def test_other_answers_are_final(
    runtime: Runtime, receiver: Receiver, status: int, logs: Logs
) -> None:
    receiver.status = status
    env, webhook, _ = await env_with_webhook(runtime, receiver.url)
    assert await deliver(runtime, env, webhook, await a_user(runtime, env)) is False
    assert len(receiver.requests) == 1
    [event] = logs.deliveries()
    assert (event["outcome"], event["status"], event["attempts"]) == ("rejected", status, 1)
    assert CODE not in logs.text()


async def test_a_slow_receiver_is_abandoned_at_the_deadline(
    runtime: Runtime, receiver: Receiver, clock: FrozenClock, logs: Logs
) -> None:
    receiver.delay_s = 5.0
    env, webhook, _ = await env_with_webhook(runtime, receiver.url, timeout_ms=300)
    user = await a_user(runtime, env)
    started = time.monotonic()
    assert await deliver(runtime, env, webhook, user) is False
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.2, elapsed
    assert len(receiver.requests) == 1
    assert clock.now() == T0  # the runtime's clock stood still: the deadline is wall time
    [event] = logs.deliveries()
    assert (event["outcome"], event["status"], event["attempts"]) == ("timeout", None, 1)
    assert CODE not in logs.text()


async def test_slow_server_errors_leave_no_time_for_a_third_attempt(
    runtime: Runtime, receiver: Receiver
) -> None:
    receiver.status, receiver.delay_s = 500, 0.15
    env, webhook, _ = await env_with_webhook(runtime, receiver.url, timeout_ms=400)
    user = await a_user(runtime, env)
    started = time.monotonic()
    assert await deliver(runtime, env, webhook, user) is False
    assert time.monotonic() - started < 0.4 + 0.2
    assert len(receiver.requests) == 2


async def test_connection_refused_is_false(runtime: Runtime, logs: Logs) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    env, webhook, _ = await env_with_webhook(runtime, url, timeout_ms=1000)
    started = time.monotonic()
    assert await deliver(runtime, env, webhook, await a_user(runtime, env)) is False
    assert time.monotonic() - started < 1.0 + 0.2
    [event] = logs.deliveries()
    assert event["outcome"] == "failed"
    assert event["attempts"] == 3
    assert event["error"] == "ConnectError"
    assert event["status"] is None
    assert CODE not in logs.text()


# -- the admin's view of the key ---------------------------------------------------------


async def test_the_key_is_shown_per_environment_and_never_stored(runtime: Runtime) -> None:
    env, _, key = await env_with_webhook(runtime, "https://sms.example.test/hook")
    _, _, other_key = await env_with_webhook(
        runtime, "https://sms.example.test/hook", domain="globex"
    )
    assert len(key) == 64
    assert key != other_key
    assert "signing_key" not in env.auth_config

    # Sent back (whole or alone), the key is ignored; with no webhook it is not shown.
    shown = await get_auth_config(runtime, env)
    shown["delivery"]["webhook"]["signing_key"] = "f" * 64
    assert await patch_auth_config(runtime, ACTOR, env, shown) == await get_auth_config(
        runtime, env
    )
    alone: dict[str, Any] = {"delivery": {"webhook": {"signing_key": "x"}}}
    assert (await patch_auth_config(runtime, ACTOR, env, alone))["delivery"]["webhook"][
        "signing_key"
    ] == key
    assert alone == {"delivery": {"webhook": {"signing_key": "x"}}}  # the caller's is untouched
    fresh = await environment_for(runtime, Principal("test", None), "acme", "production")
    assert "signing_key" not in fresh.auth_config
    cleared = await patch_auth_config(runtime, ACTOR, env, {"delivery": {"webhook": None}})
    assert cleared["delivery"] == {"webhook": None}
    assert (await patch_auth_config(runtime, ACTOR, env, alone))["delivery"] == {"webhook": None}
