"""Applications (OAuth clients) of an environment: what picks an authenticator (the default
one, or one by ``client_id``) and what the token endpoint authenticates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from twostep.errors import Conflict
from twostep.storage.db import Tx
from twostep.storage.tables import applications, new_id

__all__ = [
    "DEFAULT_GRANT_TYPES",
    "SETTING_COLUMNS",
    "ApplicationRecord",
    "TokenFormat",
    "application_by_client_id",
    "count_applications",
    "delete_application",
    "find_application",
    "get_application",
    "insert_application",
    "list_applications",
    "set_client_secret_hash",
    "update_application",
]

DEFAULT_GRANT_TYPES: tuple[str, ...] = ("authorization_code", "refresh_token")

# How access tokens look: a signed JWT, or an opaque handle only introspection reads.
TokenFormat = Literal["jwt", "opaque"]

# The columns a client of the API may set (through the service, which validates them).
SETTING_COLUMNS = frozenset(
    {
        "name",
        "totp_override",
        "redirect_uris",
        "grant_types",
        "secret_required",
        "access_token_expiration",
        "token_format",
        "refresh_token",
        "first_party",
        "client_secret_hash",
    }
)


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    id: str
    environment_id: str
    client_id: str
    name: str
    is_default: bool
    totp_override: dict[str, Any] | None
    # SHA-256 hex of the client secret; None for a public client.
    client_secret_hash: str | None = None
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = DEFAULT_GRANT_TYPES
    secret_required: bool = False
    access_token_expiration: int = 3600
    token_format: TokenFormat = "jwt"  # noqa: S105 - a format name
    refresh_token: bool = True
    first_party: bool = True
    created_at: float = 0.0
    updated_at: float | None = None

    @property
    def has_secret(self) -> bool:
        return self.client_secret_hash is not None


def _application(row: Any) -> ApplicationRecord:
    return ApplicationRecord(
        id=row.id,
        environment_id=row.environment_id,
        client_id=row.client_id,
        name=row.name,
        is_default=bool(row.is_default),
        totp_override=row.totp_override,
        client_secret_hash=row.client_secret_hash,
        redirect_uris=tuple(row.redirect_uris),
        grant_types=tuple(row.grant_types),
        secret_required=bool(row.secret_required),
        access_token_expiration=row.access_token_expiration,
        token_format=row.token_format,
        refresh_token=bool(row.refresh_token),
        first_party=bool(row.first_party),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _the_application(environment_id: str, client_id: str) -> ColumnElement[bool]:
    """One application, only within its environment (a client id never crosses tenants here)."""
    return and_(
        applications.c.environment_id == environment_id, applications.c.client_id == client_id
    )


def _settings(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - SETTING_COLUMNS
    if unknown:
        raise ValueError(f"not application settings: {sorted(unknown)}")
    return dict(values)


async def insert_application(
    tx: Tx,
    *,
    environment_id: str,
    client_id: str,
    name: str,
    is_default: bool,
    now: float,
    values: Mapping[str, Any] | None = None,
) -> ApplicationRecord:
    """A new application; ``values`` sets columns of SETTING_COLUMNS (the others take their
    defaults). A taken ``client_id`` (of any environment) raises Conflict."""
    settings: dict[str, Any] = {
        "totp_override": None,
        "client_secret_hash": None,
        "redirect_uris": [],
        "grant_types": list(DEFAULT_GRANT_TYPES),
        "secret_required": False,
        "access_token_expiration": 3600,
        "token_format": "jwt",
        "refresh_token": True,
        "first_party": True,
        **_settings(values or {}),
    }
    row = {
        "id": new_id(),
        "environment_id": environment_id,
        "client_id": client_id,
        "name": name,
        "is_default": is_default,
        "created_at": now,
        "updated_at": None,
        **settings,
    }
    try:
        async with tx.begin_nested():
            await tx.execute(insert(applications).values(**row))
    except IntegrityError as exc:
        raise Conflict() from exc
    return _application(SimpleNamespace(**row))


async def find_application(
    tx: Tx, environment_id: str, client_id: str | None
) -> ApplicationRecord | None:
    """The application with ``client_id`` in this environment, or its default one."""
    stmt = select(applications).where(applications.c.environment_id == environment_id)
    if client_id is None:
        stmt = stmt.where(applications.c.is_default.is_(True))
    else:
        stmt = stmt.where(applications.c.client_id == client_id)
    row = (await tx.execute(stmt)).first()
    return None if row is None else _application(row)


async def get_application(
    tx: Tx, environment_id: str, client_id: str, *, for_update: bool = False
) -> ApplicationRecord | None:
    """The application with ``client_id`` in this environment (never its default instead)."""
    stmt = select(applications).where(_the_application(environment_id, client_id))
    if for_update:
        stmt = stmt.with_for_update()
    row = (await tx.execute(stmt)).first()
    return None if row is None else _application(row)


async def application_by_client_id(tx: Tx, client_id: str) -> ApplicationRecord | None:
    """The application of any environment with this ``client_id`` (client ids are unique)."""
    stmt = select(applications).where(applications.c.client_id == client_id)
    row = (await tx.execute(stmt)).first()
    return None if row is None else _application(row)


async def list_applications(
    tx: Tx, environment_id: str, *, offset: int, limit: int
) -> list[ApplicationRecord]:
    """One page of the environment's applications, oldest first."""
    stmt = (
        select(applications)
        .where(applications.c.environment_id == environment_id)
        .order_by(applications.c.created_at, applications.c.client_id)
        .offset(offset)
        .limit(limit)
    )
    return [_application(row) for row in await tx.execute(stmt)]


async def count_applications(tx: Tx, environment_id: str) -> int:
    stmt = (
        select(func.count())
        .select_from(applications)
        .where(applications.c.environment_id == environment_id)
    )
    return int((await tx.execute(stmt)).scalar_one())


async def update_application(
    tx: Tx, environment_id: str, client_id: str, values: Mapping[str, Any], now: float
) -> bool:
    """Set some of SETTING_COLUMNS (and ``updated_at``); False when there is no such row."""
    stmt = (
        update(applications)
        .where(_the_application(environment_id, client_id))
        .values(**_settings(values), updated_at=now)
    )
    return (await tx.execute(stmt)).rowcount == 1


async def set_client_secret_hash(
    tx: Tx, environment_id: str, client_id: str, secret_hash: str | None, now: float
) -> bool:
    """Replace the client secret (by its hash): the old one stops working at once."""
    return await update_application(
        tx, environment_id, client_id, {"client_secret_hash": secret_hash}, now
    )


async def delete_application(tx: Tx, environment_id: str, client_id: str) -> bool:
    """Delete a non-default application; its authenticators and their recovery codes go with it
    (``ON DELETE CASCADE``). False when there is no such row, or it is the default one."""
    stmt = delete(applications).where(
        _the_application(environment_id, client_id), applications.c.is_default.is_(False)
    )
    return (await tx.execute(stmt)).rowcount == 1
