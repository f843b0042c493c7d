"""Remembered devices ("trust this browser for N days", issue 12).

After a code, a person may let their browser skip the code step of later sign-ins for the
environment's ``remember_device.days``. The browser keeps a random token (256 bits) in an
HttpOnly cookie; the server keeps its SHA-256, bound to the user, the environment and a summary
of the browser (family and operating system), with when it was made, last used and expires.

A remembered device proves something the person has, so it satisfies the account-wide
protection of spec 3b.1 (amr ``device``, never ``otp``): it is never a fresh second factor
(3b.2), never an ``acr`` mfa step-up, and never a ``max_age`` re-authentication.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from twostep.crypto import hash_api_key
from twostep.errors import NotFound
from twostep.services.audit import audit
from twostep.services.events import emit
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import devices as repo
from twostep.storage.repositories.devices import RememberedDevice
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import get_user
from twostep.storage.tables import new_id

__all__ = [
    "TOKEN_PATTERN",
    "agent_summary",
    "forget_all_devices",
    "forget_device",
    "list_devices",
    "new_device_token",
    "recognize_device",
    "remember_days",
    "remember_device",
    "remembered_for",
]

# What ``secrets.token_urlsafe(32)`` gives: 43 URL-safe characters, 256 random bits.
TOKEN_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")
_DAY_S: Final = 86400.0

# Checked in order: Edge and Opera also name Chrome, Chrome also names Safari.
_BROWSERS: Final = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS: Final = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def _first(user_agent: str, names: tuple[tuple[str, str], ...]) -> str | None:
    return next((name for mark, name in names if mark in user_agent), None)


def agent_summary(user_agent: str | None) -> str:
    """The browser family and operating system a ``User-Agent`` names ("Firefox on Linux"),
    never the whole string; "Unknown browser" when it names neither."""
    text = user_agent or ""
    browser, system = _first(text, _BROWSERS), _first(text, _SYSTEMS)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def new_device_token() -> str:
    """A fresh device token (256 random bits)."""
    return secrets.token_urlsafe(32)


def remember_days(env: EnvironmentRecord) -> int:
    """How many days the environment lets a browser skip the code (0: the feature is off)."""
    return env.config.remember_device.days


async def remember_device(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str, token: str, agent: str
) -> RememberedDevice | None:
    """Remember the browser holding ``token`` for the user; None when the environment has
    the feature off or the token is not one ``new_device_token`` could have made."""
    days = remember_days(env)
    if days <= 0 or not TOKEN_PATTERN.fullmatch(token):
        return None
    now = rt.clock.now()
    device = RememberedDevice(
        new_id(), env.id, user_id, agent_summary(agent)[:80], now, now, now + days * _DAY_S
    )
    async with rt.db.transaction() as tx:
        if not await repo.insert_device(tx, device, hash_api_key(token)):
            return None  # a token used before (a journey API client's) is not taken twice
        data = {"user_id": user_id, "device_id": device.id, "agent": device.agent, "days": days}
        await emit(tx, rt, env.id, "device.remembered", data)
        await audit(
            tx,
            rt,
            actor,
            "device.remember",
            "ok",
            environment_id=env.id,
            user_id=user_id,
            details=data,
        )
    return device


async def recognize_device(
    rt: Runtime, env: EnvironmentRecord, user_id: str, token: str | None
) -> bool:
    """Whether ``token`` is a live remembered device of this user in this environment, with
    the feature on; a recognized device's last use becomes now."""
    if remember_days(env) <= 0 or not token or not TOKEN_PATTERN.fullmatch(token):
        return False
    async with rt.db.transaction() as tx:
        return await repo.use_device(
            tx, hash_api_key(token), environment_id=env.id, user_id=user_id, now=rt.clock.now()
        )


async def remembered_for(rt: Runtime, token: str) -> float | None:
    """How many seconds the browser holding ``token`` stays remembered; None if it is not."""
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        expires_at = await repo.device_expiry(tx, hash_api_key(token), now)
    return None if expires_at is None else expires_at - now


async def list_devices(rt: Runtime, env: EnvironmentRecord, user_id: str) -> list[RememberedDevice]:
    """The user's live remembered devices, most recently used first; ``NotFound`` when the
    environment has no such user."""
    async with rt.db.transaction() as tx:
        if await get_user(tx, env.id, user_id) is None:
            raise NotFound("Unknown user.")
        return await repo.list_devices(
            tx, environment_id=env.id, user_id=user_id, now=rt.clock.now()
        )


async def forget_device(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str, device_id: str
) -> None:
    """Revoke one of the user's remembered devices; ``NotFound`` when it is not theirs."""
    async with rt.db.transaction() as tx:
        if not await repo.delete_device(tx, device_id, environment_id=env.id, user_id=user_id):
            raise NotFound("Unknown device.")
        data = {"user_id": user_id, "device_id": device_id, "reason": "revoked"}
        await emit(tx, rt, env.id, "device.revoked", data)
        await audit(
            tx,
            rt,
            actor,
            "device.revoke",
            "ok",
            environment_id=env.id,
            user_id=user_id,
            details={"device_id": device_id},
        )


async def forget_all_devices(tx: Tx, rt: Runtime, user_id: str) -> int:
    """Revoke every remembered device of the user, in ``tx`` (when trust in them changes:
    a password change, a second factor reset or disabled, the user disabled); how many."""
    gone = await repo.delete_user_devices(tx, user_id)
    for device_id, environment_id in gone:
        data = {"user_id": user_id, "device_id": device_id, "reason": "trust_change"}
        await emit(tx, rt, environment_id, "device.revoked", data)
    return len(gone)
