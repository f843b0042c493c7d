"""Webhooks reach only the outside (spec 3b.6): an internal endpoint is refused when it is
configured and again on the address actually connected to; tenants cannot set the framing or
the signature headers.

No traffic ever leaves 127.0.0.0/8: the other internal addresses are refused before any
connection, and the public ones are only configured, never delivered to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.test_admin_console import auth_config, config_form, console, signed_in
from tests.e2e.test_api_errors import assert_problem, enroll
from tests.e2e.test_journey_webhook import PASSWORD, to_challenge
from tests.pg import free_port
from tests.server import Api, Server
from tests.services.support import ACTOR, enrolled_user, new_environment
from tests.services.test_webhooks import (
    CODE,
    EXPIRES_AT,
    T0,
    Logs,
    Receiver,
    a_user,
    allowing,
    logs,
    receiver,
)
from twostep.clock import FrozenClock
from twostep.services.runtime import Runtime, config_of
from twostep.services.verification import current_code, verify_code
from twostep.services.webhooks import (
    SIGNATURE_HEADER,
    deliver_code,
    signing_key,
    verify_signature,
)
from twostep.storage import Database
from twostep.storage.repositories.organizations import get_environment, set_auth_config

__all__ = ["console", "logs", "receiver"]

ENDPOINT = ["delivery", "webhook", "endpoint"]
HEADERS = ["delivery", "webhook", "headers"]

# Loopback, private, link-local, unique-local, multicast, unspecified and reserved hosts,
# written as literals, as IPv4-mapped IPv6, and as names that resolve to them.
INTERNAL = [
    "https://127.0.0.1/hook",
    "https://127.0.0.1:8443/hook",
    "https://localhost/hook",
    "https://localhost./hook",
    "https://LocalHost:8443/hook",
    "https://sms.localhost/hook",
    "https://127.1/hook",  # a "name" the resolver reads as 127.0.0.1
    "https://2130706433/hook",  # likewise, 127.0.0.1 as one decimal number
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://[fd00::1]/hook",
    "https://[fe80::1]/hook",
    "https://224.0.0.1/hook",
    "https://[ff02::1]/hook",
    "https://240.0.0.1/hook",
    "https://255.255.255.255/hook",
    "https://[64:ff9b::7f00:1]/hook",
    "https://[2002:7f00:1::]/hook",
]
PLAIN_HTTP = [
    "http://127.0.0.1:9/hook",
    "http://sms.example.test/hook",  # does not resolve: http is refused all the same
    "http://93.184.215.14/hook",  # public, but plain http
    "https://sms.example.test:99999/hook",  # no such port: refused, not a 500
]
FORBIDDEN_HEADERS = [
    "Host",
    "host",
    "Content-Length",
    "Transfer-Encoding",
    "Twostep-Signature",
    "TWOSTEP-SIGNATURE",
]


def refused_naming(response: httpx.Response, loc: list[str]) -> None:
    body = assert_problem(response, 422, "validation_error")
    assert [error["loc"] for error in body["errors"]] == [loc], body


# -- at configuration time ---------------------------------------------------------------


@pytest.mark.parametrize("endpoint", INTERNAL + PLAIN_HTTP)
def test_internal_and_plain_http_endpoints_are_refused(api: Api, endpoint: str) -> None:
    response = api.patch_config({"delivery": {"webhook": {"endpoint": endpoint}}})
    refused_naming(response, ENDPOINT)
    shown = api.request("GET", f"/api/v1/org/{api.org}/auth-config").json()
    assert shown["delivery"] == {"webhook": None}


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://sms.example.test/hook",  # does not resolve now: judged at delivery
        "https://93.184.215.14/hook",
        "https://[2606:4700:4700::1111]/hook",
    ],
)
def test_public_https_endpoints_are_accepted(api: Api, endpoint: str) -> None:
    response = api.patch_config({"delivery": {"webhook": {"endpoint": endpoint}}})
    assert response.status_code == 200, response.text
    assert response.json()["delivery"]["webhook"]["endpoint"] == endpoint


@pytest.mark.parametrize("name", FORBIDDEN_HEADERS)
def test_framing_and_signature_headers_cannot_be_set(api: Api, name: str) -> None:
    webhook = {"endpoint": "https://sms.example.test/hook", "headers": {name: "x"}}
    refused_naming(api.patch_config({"delivery": {"webhook": webhook}}), HEADERS)


# -- at delivery, through a live server without the allowance -----------------------------


async def store_straight(server: Server, domain: str, webhook: dict[str, Any]) -> None:
    """Write a webhook into the server's database as an earlier version may have stored it."""
    url = server.env.get("TWOSTEP_DATABASE_URL") or (
        f"sqlite+aiosqlite:///{server.data_dir / 'twostep.db'}"
    )
    db = Database(url)
    try:
        async with db.transaction() as tx:
            env = await get_environment(tx, domain, "production")
            assert env is not None
            document = {"delivery": {"webhook": webhook}}
            await set_auth_config(tx, env.id, json.dumps(document))
    finally:
        await db.dispose()


def deliveries(api: Api, user_id: str) -> list[str]:
    response = api.request("GET", f"/api/v1/org/{api.org}/audit-events", params={"user": user_id})
    assert response.status_code == 200, response.text
    return [e["outcome"] for e in response.json()["data"] if e["action"] == "totp.deliver"]


async def test_an_internal_endpoint_stored_earlier_is_not_connected_to(
    server: Server, api: Api, receiver: Receiver
) -> None:
    user, _, _ = enroll(api, password=PASSWORD)
    assert api.org is not None
    closed = f"http://127.0.0.1:{free_port()}/hook"
    outcomes = []
    for endpoint in (receiver.url, closed, f"https://localhost:{receiver.port}/hook"):
        await store_straight(server, api.org, {"endpoint": endpoint, "timeout_ms": 1000})
        challenge, _ = await to_challenge(server, api, user["email"])
        assert challenge["journeyStepId"] == "TotpAuthentication"
        outcomes.append(deliveries(api, user["id"])[0])
    assert receiver.requests == []
    # The audit trail says the same whether something listened there or not.
    assert outcomes == ["refused"] * 3


# -- at delivery, in the service ---------------------------------------------------------


async def test_without_the_allowance_nothing_is_sent_and_with_it_the_signed_body_is(
    runtime: Runtime, receiver: Receiver, logs: Logs
) -> None:
    env = await new_environment(runtime)
    user = await a_user(runtime, env)
    # Stored before the rules: a loopback endpoint, reached by its name, and headers that a
    # tenant may no longer set.
    document = {
        "delivery": {
            "webhook": {
                "endpoint": f"http://localhost:{receiver.port}/hook",
                "headers": {
                    "Host": "metadata.internal",
                    "Twostep-Signature": "t=1,v1=forged",
                    "Transfer-Encoding": "chunked",
                    "X-Tenant": "acme",
                },
            }
        }
    }
    async with runtime.db.transaction() as tx:
        await set_auth_config(tx, env.id, json.dumps(document))
        env = await get_environment(tx, "acme", "production") or env
    webhook = config_of(env.auth_config).delivery.webhook
    assert webhook is not None

    sent = await deliver_code(runtime, env, webhook, user=user, code=CODE, expires_at=EXPIRES_AT)
    assert sent == "refused"
    assert receiver.requests == []
    [event] = logs.deliveries()
    assert (event["outcome"], event["status"]) == ("refused", None)

    # With 127.0.0.0/8 admitted, the name is resolved, checked and connected to by address.
    admitted = allowing(runtime, "127.0.0.0/8")
    sent = await deliver_code(admitted, env, webhook, user=user, code=CODE, expires_at=EXPIRES_AT)
    assert sent == "delivered"
    [request] = receiver.requests
    assert request.headers["host"] == f"localhost:{receiver.port}"
    assert request.headers["x-tenant"] == "acme"
    assert "transfer-encoding" not in request.headers
    signature = request.headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(signing_key(admitted, env), signature, request.body, now=T0)
    assert json.loads(request.body)["code"] == CODE


# -- https: the checked address is connected to, the certificate checked for the name -------


def tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[Receiver, Path, list[str]]]:
    """A receiver on 127.0.0.1 speaking TLS as ``localhost``; and the SNI names it was sent."""
    cert_path, key_path = tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    names: list[str] = []
    context.sni_callback = lambda _socket, name, _context: names.append(str(name)) or None
    receiver = Receiver()
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0, ssl=context)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver, cert_path, names
    finally:
        server.close()
        for task in list(receiver.handlers):
            task.cancel()
        await asyncio.gather(*receiver.handlers, return_exceptions=True)
        await server.wait_closed()


async def test_https_keeps_the_name_for_the_certificate_and_the_host(
    runtime: Runtime, tls_receiver: tuple[Receiver, Path, list[str]]
) -> None:
    receiver, cert_path, names = tls_receiver
    env = await new_environment(runtime)
    user = await a_user(runtime, env)
    webhook = config_of(
        json.dumps({"delivery": {"webhook": {"endpoint": f"https://localhost:{receiver.port}/"}}})
    ).delivery.webhook
    assert webhook is not None
    trusting = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert_path)))
    try:
        rt = dataclasses.replace(allowing(runtime, "127.0.0.0/8"), http=trusting)
        sent = await deliver_code(rt, env, webhook, user=user, code=CODE, expires_at=EXPIRES_AT)
        assert sent == "delivered"
    finally:
        await trusting.aclose()
    [request] = receiver.requests
    assert names == ["localhost"]
    assert request.headers["host"] == f"localhost:{receiver.port}"


# -- the delivered code is one the next check accepts -------------------------------------


async def test_the_delivered_code_is_never_a_spent_one(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    phone = await enrolled_user(runtime, clock, env)  # confirming spent the current step
    delivered = await current_code(runtime, env, phone.user_id, None)
    assert delivered is not None
    code, expires_at = delivered
    assert code == phone.code(clock, +1)
    assert expires_at == (phone.step(clock) + 2) * phone.params.period
    await verify_code(runtime, ACTOR, env, phone.user_id, code)  # accepted: no problem raised
    # Every step the window accepts is spent now: nothing deliverable until time moves on.
    assert await current_code(runtime, env, phone.user_id, None) is None
    clock.advance(2 * phone.params.period)
    assert await current_code(runtime, env, phone.user_id, None) == (
        phone.code(clock),
        (phone.step(clock) + 1) * phone.params.period,
    )


def test_the_admin_console_explains_a_refused_endpoint(console: httpx.Client, api: Api) -> None:
    signed_in(console, api)
    form = config_form(console.get("/admin/config"))
    form["delivery.webhook.endpoint"] = "https://169.254.169.254/latest/meta-data/"
    page = console.post("/admin/config", data=form)
    assert page.status_code == 422
    assert "Must not reach a loopback, private or otherwise internal address." in page.text
    assert auth_config(api)["delivery"] == {"webhook": None}
