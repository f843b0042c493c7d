"""Code delivery by webhook (spec 3.11): POST the current code, signed, within a deadline.

The body is JSON; the ``Twostep-Signature`` header carries ``t=<unix time>,v1=<hex>`` where
the hex is HMAC-SHA256, keyed by the environment's signing key (its ASCII text), of
``"<t>." + body``. The receiver recomputes it with the key the admin reads from the auth
config, compares in constant time and refuses stale timestamps (``verify_signature``).

Delivery goes through ``outbound.post``: only to public addresses (or networks the server
allows), checked on the address connected to, never following redirects (spec 3b.6). It never
raises for network trouble and never logs the code, the body or the values of the configured
headers: one ``webhook.delivery`` event says where (host only), how many attempts, the outcome
and the last status.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx
import structlog

from twostep.clock import to_datetime
from twostep.crypto import webhook_signing_key
from twostep.errors import ValidationFailed
from twostep.policy import RESERVED_HEADERS, AuthConfig, WebhookConfig
from twostep.services import outbound
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord

__all__ = [
    "BACKOFF_S",
    "MAX_ATTEMPTS",
    "SIGNATURE_HEADER",
    "Delivery",
    "check_endpoint",
    "deliver_code",
    "sign",
    "signing_key",
    "verify_signature",
]

Delivery = Literal["delivered", "rejected", "failed", "timeout", "refused"]

SIGNATURE_HEADER = "Twostep-Signature"
MAX_ATTEMPTS = 3
# The pause before the second and the third attempt, if the deadline leaves room for it.
BACKOFF_S = (0.05, 0.1)

_log = structlog.get_logger("twostep.webhooks")
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_MAX_HEADER = 4096


def signing_key(rt: Runtime, env: EnvironmentRecord) -> str:
    """The environment's webhook signing key (derived from the server pepper, not stored)."""
    return webhook_signing_key(rt.keyring, env.id)


async def check_endpoint(rt: Runtime, config: AuthConfig) -> None:
    """Refuse (422 naming the field) a config whose webhook endpoint no call may reach."""
    if config.delivery.webhook is None:
        return
    try:
        await outbound.check_destination(rt.settings, config.delivery.webhook.endpoint)
    except outbound.DestinationRefused as exc:
        loc = ["delivery", "webhook", "endpoint"]
        error = {"loc": loc, "msg": exc.reason, "type": "value_error"}
        raise ValidationFailed(errors=[error], rules={tuple(loc): exc.code}) from None


def _digest(key: str, body: bytes, timestamp: int) -> str:
    message = f"{timestamp}.".encode("ascii") + body
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(key: str, body: bytes, timestamp: int) -> str:
    """The signature header value ``t=<timestamp>,v1=<hex HMAC-SHA256(key, "<t>." + body)>``."""
    return f"t={timestamp},v1={_digest(key, body, timestamp)}"


def verify_signature(
    key: str, header: str, body: bytes, *, now: float, tolerance_s: int = 300
) -> bool:
    """Whether ``header`` signs ``body`` under ``key`` at most ``tolerance_s`` from ``now``.

    What a receiver runs. Malformed headers are False, never an exception; several ``v1``
    entries are allowed (any one may match); the comparison is constant time.
    """
    if not isinstance(header, str) or len(header) > _MAX_HEADER:
        return False
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]) or not candidates:
        return False
    timestamp = int(timestamps[0])
    if not abs(now - timestamp) <= tolerance_s:  # written so that a NaN ``now`` fails too
        return False
    expected = _digest(key, body, timestamp).encode("ascii")
    matched = False
    for candidate in candidates:
        # Every candidate is compared (no early exit), as bytes so that any text is comparable.
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched


def _body(env: EnvironmentRecord, user: UserRecord, code: str, expires_at: float) -> bytes:
    document = {
        "event": "totp.code",
        "organization": env.organization_domain,
        "environment": env.name,
        "user": {
            "id": user.id,
            "email": user.email,
            "username": user.username,
            "phone": user.phone,
        },
        "code": code,
        "expires_at": to_datetime(expires_at).isoformat(),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _headers(webhook: WebhookConfig, signature: str) -> dict[str, str]:
    """The tenant's headers (never the reserved ones, even if stored earlier), then ours."""
    headers = {
        name: value
        for name, value in webhook.headers.items()
        if name.lower() not in RESERVED_HEADERS and name.lower() != "content-type"
    }
    return {**headers, "Content-Type": "application/json", SIGNATURE_HEADER: signature}


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


@dataclass(slots=True)
class _Attempts:
    """How a delivery went so far: the last answer's status or transport error, the outcome."""

    count: int = 0
    status: int | None = None
    error: str | None = None
    outcome: Delivery = "failed"

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def _attempt(
    rt: Runtime, webhook: WebhookConfig, key: str, body: bytes, seconds: float, tally: _Attempts
) -> bool:
    """One signed POST, noted in ``tally``; True when the delivery is over (no retry)."""
    tally.count += 1
    tally.status, tally.error, tally.outcome = None, None, "failed"
    headers = _headers(webhook, sign(key, body, int(rt.clock.now())))
    try:
        # Streamed so that the receiver's answer body is never read.
        async with outbound.post(
            rt, webhook.endpoint, content=body, headers=headers, timeouts=httpx.Timeout(seconds)
        ) as response:
            tally.status = response.status_code
    except outbound.DestinationRefused:
        tally.outcome = "refused"
        return True
    except httpx.HTTPError as exc:
        # The exception's text may quote the URL (and its query): only its type.
        tally.error = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            tally.outcome = "timeout"
    if tally.succeeded:
        tally.outcome = "delivered"
        return True
    if tally.status is not None and not _retryable(tally.status):
        tally.outcome = "rejected"
        return True
    return tally.count >= MAX_ATTEMPTS


async def deliver_code(
    rt: Runtime,
    env: EnvironmentRecord,
    webhook: WebhookConfig,
    *,
    user: UserRecord,
    code: str,
    expires_at: float,
) -> Delivery:
    """POST the code to the webhook; ``delivered`` once a 2xx answer came back.

    The whole delivery, retries included, ends within ``webhook.timeout_ms``. Up to three
    attempts: transport errors, 5xx and 429 are retried after a short pause, other answers
    are final; an endpoint that is or resolves to an address no call may reach is
    ``refused`` before any connection. Each attempt is signed with a fresh timestamp from the
    runtime's clock.
    """
    body = _body(env, user, code, expires_at)
    key = signing_key(rt, env)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + webhook.timeout_ms / 1000
    tally = _Attempts()
    try:
        async with asyncio.timeout_at(deadline):
            while not await _attempt(
                rt, webhook, key, body, max(deadline - loop.time(), 0.001), tally
            ):
                pause = BACKOFF_S[tally.count - 1]
                if deadline - loop.time() <= pause:
                    break
                await asyncio.sleep(pause)
    except TimeoutError:
        # The deadline may strike while a 2xx answer is being closed: that one counts.
        if tally.succeeded:
            tally.outcome = "delivered"
        else:
            tally.outcome, tally.error = "timeout", tally.error or "TimeoutError"
    log = _log.info if tally.outcome == "delivered" else _log.warning
    log(
        "webhook.delivery",
        environment_id=env.id,
        host=urlsplit(webhook.endpoint).hostname,
        attempts=tally.count,
        outcome=tally.outcome,
        status=tally.status,
        error=tally.error,
    )
    return tally.outcome
