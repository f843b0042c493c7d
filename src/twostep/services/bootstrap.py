"""First-start set-up: the server-admin key, and the demo organization of ``make run``."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.crypto import hash_api_key, new_api_key
from twostep.services.accounts import create_user
from twostep.services.organizations import create_organization, environment_for
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories import organizations as repo
from twostep.storage.repositories.organizations import Principal

__all__ = ["DemoSetup", "ensure_admin_key", "ensure_demo"]

_CLI = Actor("cli")


async def ensure_admin_key(rt: Runtime) -> str | None:
    """Register ``TWOSTEP_ADMIN_API_KEY``; without it, create a key on first start and return it."""
    configured = rt.settings.admin_api_key
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        if configured is not None:
            key_hash = hash_api_key(configured.get_secret_value())
            if await repo.find_principal(tx, key_hash) is None:
                await repo.insert_api_key(
                    tx,
                    key_hash=key_hash,
                    environment_id=None,
                    label="TWOSTEP_ADMIN_API_KEY",
                    now=now,
                )
            return None
        if await repo.count_admin_keys(tx) > 0:
            return None
        key = new_api_key("ts_admin")
        await repo.insert_api_key(
            tx, key_hash=hash_api_key(key), environment_id=None, label="first start", now=now
        )
        return key


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
