"""Organizations, environments and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from twostep.errors import Conflict
from twostep.policy import AuthConfig, parse_config
from twostep.storage.db import Tx
from twostep.storage.tables import api_keys, environments, new_id, organizations

__all__ = [
    "ApiKeyRecord",
    "EnvironmentRecord",
    "OrganizationRecord",
    "Principal",
    "api_key_exists",
    "count_admin_keys",
    "count_organizations",
    "delete_organization",
    "find_principal",
    "find_principal_by_key_id",
    "get_environment",
    "get_environment_by_id",
    "get_organization",
    "insert_api_key",
    "insert_environment",
    "insert_organization",
    "list_api_keys",
    "list_organizations",
    "note_key_use",
    "retire_admin_keys",
    "revoke_api_key",
    "set_auth_config",
    "update_organization",
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
    """An environment as read at one moment: ``config`` is its auth config, parsed when the
    record was built (``auth_config`` the JSON text stored). Whether it is still current
    depends on where the record came from: see ``services.organizations``."""

    id: str
    organization_id: str
    organization_domain: str
    organization_name: str
    name: str
    auth_config: str
    config: AuthConfig


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an API key speaks for: a server admin, or one environment of one organization."""

    key_id: str
    environment: EnvironmentRecord | None
    # As read with the key: when its use was last noted (see ``note_key_use``).
    last_used_at: float | None = None

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
        config=parse_config(row.auth_config),
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


def _organization(row: Any) -> OrganizationRecord:
    return OrganizationRecord(row.id, row.domain, row.name, list(row.email_domains), row.created_at)


async def get_organization(tx: Tx, domain: str) -> OrganizationRecord | None:
    row = (await tx.execute(select(organizations).where(organizations.c.domain == domain))).first()
    return None if row is None else _organization(row)


async def list_organizations(tx: Tx, *, offset: int, limit: int) -> list[OrganizationRecord]:
    """Organizations by domain (a stable order for pages)."""
    stmt = select(organizations).order_by(organizations.c.domain).offset(offset).limit(limit)
    return [_organization(row) for row in await tx.execute(stmt)]


async def count_organizations(tx: Tx) -> int:
    return int((await tx.execute(select(func.count()).select_from(organizations))).scalar_one())


async def update_organization(tx: Tx, domain: str, values: dict[str, Any]) -> bool:
    """Set ``name`` and/or ``email_domains``; False for an unknown domain."""
    stmt = update(organizations).where(organizations.c.domain == domain).values(**values)
    return (await tx.execute(stmt)).rowcount == 1


async def delete_organization(tx: Tx, domain: str) -> list[str] | None:
    """Delete an organization and (by cascade) its environments, keys, users, applications and
    authenticators; the ids of the environments it had, None for an unknown domain."""
    org = await get_organization(tx, domain)
    if org is None:
        return None
    env_ids = (
        await tx.execute(select(environments.c.id).where(environments.c.organization_id == org.id))
    ).scalars()
    gone = list(env_ids)
    await tx.execute(delete(organizations).where(organizations.c.id == org.id))
    return gone


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


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as its owner sees it listed: never its secret nor its hash."""

    id: str
    environment_id: str | None
    name: str
    prefix: str | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


def _api_key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        environment_id=row.environment_id,
        name=row.label,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def insert_api_key(
    tx: Tx,
    *,
    key_hash: str,
    prefix: str,
    environment_id: str | None,
    label: str,
    now: float,
) -> ApiKeyRecord:
    key = ApiKeyRecord(new_id(), environment_id, label, prefix, now, None, None)
    await tx.execute(
        insert(api_keys).values(
            id=key.id,
            environment_id=environment_id,
            key_hash=key_hash,
            prefix=prefix,
            label=label,
            created_at=now,
        )
    )
    return key


async def list_api_keys(tx: Tx, environment_id: str, *, limit: int = 1000) -> list[ApiKeyRecord]:
    """The environment's keys, revoked ones included, newest first."""
    stmt = (
        select(api_keys)
        .where(api_keys.c.environment_id == environment_id)
        .order_by(api_keys.c.created_at.desc(), api_keys.c.id)
        .limit(limit)
    )
    return [_api_key(row) for row in (await tx.execute(stmt)).all()]


async def revoke_api_key(
    tx: Tx, environment_id: str, key_id: str, now: float
) -> tuple[ApiKeyRecord, bool] | None:
    """Revoke one of the environment's keys (a revoked one stays as it was), and whether this
    call revoked it; None if the environment has no key with this id."""
    result = await tx.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            api_keys.c.environment_id == environment_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    stmt = select(api_keys).where(
        api_keys.c.id == key_id, api_keys.c.environment_id == environment_id
    )
    row = (await tx.execute(stmt)).first()
    return None if row is None else (_api_key(row), result.rowcount == 1)


async def note_key_use(tx: Tx, key_id: str, *, now: float, every_s: float) -> None:
    """Note that a key was used now, unless that was noted less than ``every_s`` ago (in SQL,
    so nodes noting the same key at once write it once)."""
    await tx.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at <= now - every_s),
        )
        .values(last_used_at=now)
    )


async def retire_admin_keys(
    tx: Tx, *, labels: tuple[str, ...], keep_hash: str | None, now: float
) -> int:
    """Revoke the live server-admin keys with one of these labels, but the one hashed
    ``keep_hash``; how many were revoked."""
    stmt = (
        update(api_keys)
        .where(
            api_keys.c.environment_id.is_(None),
            api_keys.c.label.in_(labels),
            api_keys.c.revoked_at.is_(None),
            api_keys.c.key_hash != (keep_hash or ""),
        )
        .values(revoked_at=now)
    )
    return int((await tx.execute(stmt)).rowcount)


async def api_key_exists(tx: Tx, key_hash: str) -> bool:
    """Whether a key with this hash was ever registered, live or revoked."""
    stmt = select(api_keys.c.id).where(api_keys.c.key_hash == key_hash)
    return (await tx.execute(stmt)).first() is not None


async def find_principal(tx: Tx, key_hash: str) -> Principal | None:
    """The principal of a live key with this hash, or None."""
    return await _live_principal(tx, api_keys.c.key_hash == key_hash)


async def find_principal_by_key_id(tx: Tx, key_id: str) -> Principal | None:
    """The principal of the live (not revoked) key with this id, or None."""
    return await _live_principal(tx, api_keys.c.id == key_id)


async def _live_principal(tx: Tx, which: ColumnElement[bool]) -> Principal | None:
    key = (
        await tx.execute(
            select(api_keys.c.id, api_keys.c.environment_id, api_keys.c.last_used_at).where(
                which, api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    if key is None:
        return None
    if key.environment_id is None:
        return Principal(key.id, None, key.last_used_at)
    row = (
        await tx.execute(_environment_select().where(environments.c.id == key.environment_id))
    ).first()
    return None if row is None else Principal(key.id, _environment(row), key.last_used_at)


async def count_admin_keys(tx: Tx) -> int:
    stmt = (
        select(func.count())
        .select_from(api_keys)
        .where(api_keys.c.environment_id.is_(None), api_keys.c.revoked_at.is_(None))
    )
    return int((await tx.execute(stmt)).scalar_one())
