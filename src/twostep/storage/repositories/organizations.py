"""Organizations, environments and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from twostep.errors import Conflict
from twostep.storage.db import Tx
from twostep.storage.tables import api_keys, environments, new_id, organizations

__all__ = [
    "EnvironmentRecord",
    "OrganizationRecord",
    "Principal",
    "find_principal",
    "find_principal_by_key_id",
    "get_environment",
    "get_environment_by_id",
    "get_organization",
    "insert_api_key",
    "insert_environment",
    "insert_organization",
    "set_auth_config",
]


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    id: str
    domain: str
    name: str
    email_domains: list[str]
    created_at: float


@dataclass(frozen=True, slots=True)
class EnvironmentRecord:
    id: str
    organization_id: str
    organization_domain: str
    organization_name: str
    name: str
    auth_config: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an API key speaks for: a server admin, or one environment of one organization."""

    key_id: str
    environment: EnvironmentRecord | None

    @property
    def is_admin(self) -> bool:
        return self.environment is None


_ENV_COLUMNS = (
    environments.c.id,
    environments.c.organization_id,
    organizations.c.domain,
    organizations.c.name.label("org_name"),
    environments.c.name,
    environments.c.auth_config,
)


def _environment(row: Any) -> EnvironmentRecord:
    return EnvironmentRecord(
        id=row.id,
        organization_id=row.organization_id,
        organization_domain=row.domain,
        organization_name=row.org_name,
        name=row.name,
        auth_config=row.auth_config,
    )


def _environment_select() -> Any:
    return select(*_ENV_COLUMNS).join(
        organizations, organizations.c.id == environments.c.organization_id
    )


async def insert_organization(
    tx: Tx, *, domain: str, name: str, email_domains: list[str], now: float
) -> OrganizationRecord:
    org = OrganizationRecord(new_id(), domain, name, email_domains, now)
    try:
        async with tx.begin_nested():
            await tx.execute(
                insert(organizations).values(
                    id=org.id,
                    domain=domain,
                    name=name,
                    email_domains=email_domains,
                    created_at=now,
                )
            )
    except IntegrityError as exc:
        raise Conflict("An organization with this domain already exists.", field="domain") from exc
    return org


async def get_organization(tx: Tx, domain: str) -> OrganizationRecord | None:
    row = (await tx.execute(select(organizations).where(organizations.c.domain == domain))).first()
    if row is None:
        return None
    return OrganizationRecord(row.id, row.domain, row.name, list(row.email_domains), row.created_at)


async def insert_environment(
    tx: Tx, *, organization_id: str, name: str, auth_config: str, now: float
) -> str:
    env_id = new_id()
    await tx.execute(
        insert(environments).values(
            id=env_id,
            organization_id=organization_id,
            name=name,
            auth_config=auth_config,
            created_at=now,
        )
    )
    return env_id


async def get_environment(
    tx: Tx, domain: str, name: str, *, for_update: bool = False
) -> EnvironmentRecord | None:
    stmt = _environment_select().where(
        organizations.c.domain == domain, environments.c.name == name
    )
    if for_update:
        stmt = stmt.with_for_update(of=environments)
    row = (await tx.execute(stmt)).first()
    return None if row is None else _environment(row)


async def get_environment_by_id(tx: Tx, environment_id: str) -> EnvironmentRecord | None:
    row = (
        await tx.execute(_environment_select().where(environments.c.id == environment_id))
    ).first()
    return None if row is None else _environment(row)


async def set_auth_config(tx: Tx, environment_id: str, auth_config: str) -> None:
    await tx.execute(
        update(environments)
        .where(environments.c.id == environment_id)
        .values(auth_config=auth_config)
    )


async def insert_api_key(
    tx: Tx, *, key_hash: str, environment_id: str | None, label: str, now: float
) -> str:
    key_id = new_id()
    await tx.execute(
        insert(api_keys).values(
            id=key_id,
            environment_id=environment_id,
            key_hash=key_hash,
            label=label,
            created_at=now,
        )
    )
    return key_id


async def find_principal(tx: Tx, key_hash: str) -> Principal | None:
    """The principal of a live key with this hash, or None."""
    return await _live_principal(tx, api_keys.c.key_hash == key_hash)


async def find_principal_by_key_id(tx: Tx, key_id: str) -> Principal | None:
    """The principal of the live (not revoked) key with this id, or None."""
    return await _live_principal(tx, api_keys.c.id == key_id)


async def _live_principal(tx: Tx, which: ColumnElement[bool]) -> Principal | None:
    key = (
        await tx.execute(
            select(api_keys.c.id, api_keys.c.environment_id).where(
                which, api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    if key is None:
        return None
    if key.environment_id is None:
        return Principal(key.id, None)
    row = (
        await tx.execute(_environment_select().where(environments.c.id == key.environment_id))
    ).first()
    return None if row is None else Principal(key.id, _environment(row))


async def count_admin_keys(tx: Tx) -> int:
    stmt = (
        select(func.count())
        .select_from(api_keys)
        .where(api_keys.c.environment_id.is_(None), api_keys.c.revoked_at.is_(None))
    )
    return int((await tx.execute(stmt)).scalar_one())
