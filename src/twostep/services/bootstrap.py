"""First-start set-up: the server-admin key, and the demo organization of ``make run``."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from twostep.crypto import api_key_prefix, hash_api_key, new_api_key
from twostep.services.accounts import create_user
from twostep.services.organizations import create_organization, environment_for
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import organizations as repo
from twostep.storage.repositories.organizations import Principal

__all__ = [
    "DEMO_DOMAIN",
    "DEMO_PASSWORD",
    "DEMO_USER",
    "DemoSetup",
    "ensure_admin_key",
    "ensure_demo",
]

_CLI = Actor("cli")
_CONFIGURED = "TWOSTEP_ADMIN_API_KEY"
_FIRST_START = "first start"
_log = structlog.get_logger("twostep.bootstrap")


async def ensure_admin_key(rt: Runtime) -> str | None:
    """Register ``TWOSTEP_ADMIN_API_KEY``; without it, create a key on first start and return it.

    A changed ``TWOSTEP_ADMIN_API_KEY`` retires the previous one, and the first-start key once
    one is configured (spec 3b.7); admin keys made with ``twostep apikey create`` stay. A key
    once retired or revoked never comes back: configured again, it stays refused.
    """
    configured = rt.settings.admin_api_key
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        if configured is not None:
            await _register_configured(tx, configured.get_secret_value(), now)
            return None
        await _retire(tx, labels=(_CONFIGURED,), keep_hash=None, now=now)
        if await repo.count_admin_keys(tx) > 0:
            return None
        key = new_api_key("ts_admin")
        await _insert_admin_key(tx, key, label=_FIRST_START, now=now)
        return key


async def _register_configured(tx: Tx, key: str, now: float) -> None:
    key_hash = hash_api_key(key)
    await _retire(tx, labels=(_CONFIGURED, _FIRST_START), keep_hash=key_hash, now=now)
    if await repo.api_key_exists(tx, key_hash):
        if await repo.find_principal(tx, key_hash) is None:
            _log.warning("configured_admin_api_key_revoked")
        return
    await _insert_admin_key(tx, key, label=_CONFIGURED, now=now)


async def _retire(tx: Tx, *, labels: tuple[str, ...], keep_hash: str | None, now: float) -> None:
    retired = await repo.retire_admin_keys(tx, labels=labels, keep_hash=keep_hash, now=now)
    if retired:
        _log.warning("admin_api_keys_retired", count=retired)


async def _insert_admin_key(tx: Tx, key: str, *, label: str, now: float) -> None:
    await repo.insert_api_key(
        tx,
        key_hash=hash_api_key(key),
        prefix=api_key_prefix(key),
        environment_id=None,
        label=label,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class DemoSetup:
    created: bool
    api_keys: dict[str, str]


DEMO_DOMAIN = "demo"
DEMO_USER = "demo@demo.test"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the published password of the demo user


async def ensure_demo(rt: Runtime) -> DemoSetup:
    """The ``demo`` organization with a demo user, unless it exists."""
    async with rt.db.transaction() as tx:
        if await repo.get_organization(tx, DEMO_DOMAIN) is not None:
            return DemoSetup(False, {})
    created = await create_organization(
        rt, _CLI, name="Demo", domain=DEMO_DOMAIN, email_domains=["demo.test"]
    )
    env = await environment_for(rt, Principal("cli", None), DEMO_DOMAIN, "production")
    await create_user(
        rt, _CLI, env, {"email": DEMO_USER, "username": "demo", "password": DEMO_PASSWORD}
    )
    return DemoSetup(True, created.api_keys)
