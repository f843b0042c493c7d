"""Applications: for now, what picks an authenticator (the default one, or by client_id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from twostep.storage.db import Tx
from twostep.storage.tables import applications, new_id

__all__ = [
    "ApplicationRecord",
    "application_by_client_id",
    "find_application",
    "insert_application",
]


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    id: str
    environment_id: str
    client_id: str
    name: str
    is_default: bool
    totp_override: dict[str, Any] | None


async def insert_application(
    tx: Tx, *, environment_id: str, client_id: str, name: str, is_default: bool, now: float
) -> ApplicationRecord:
    app = ApplicationRecord(new_id(), environment_id, client_id, name, is_default, None)
    await tx.execute(
        insert(applications).values(
            id=app.id,
            environment_id=environment_id,
            client_id=client_id,
            name=name,
            is_default=is_default,
            totp_override=None,
            created_at=now,
        )
    )
    return app


def _application(row: Any) -> ApplicationRecord:
    return ApplicationRecord(
        row.id, row.environment_id, row.client_id, row.name, row.is_default, row.totp_override
    )


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


async def application_by_client_id(tx: Tx, client_id: str) -> ApplicationRecord | None:
    """The application of any environment with this ``client_id`` (client ids are unique)."""
    stmt = select(applications).where(applications.c.client_id == client_id)
    row = (await tx.execute(stmt)).first()
    return None if row is None else _application(row)
