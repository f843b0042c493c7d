"""What only a server admin does with organizations: list, rename, change email domains,
delete. (Creating one, and what its own keys may do: ``services.organizations``.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from twostep.errors import NotFound, ValidationFailed
from twostep.identifiers import EmailDomain, PrintableName, field_errors
from twostep.services.audit import audit
from twostep.services.organizations import ENVIRONMENTS
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories import organizations as repo
from twostep.storage.repositories.organizations import OrganizationRecord
from twostep.storage.repositories.throttle import delete_environment_counters

__all__ = [
    "OrganizationChange",
    "OrganizationsPage",
    "delete_organization",
    "list_organizations",
    "update_organization",
]

_UNKNOWN = "Unknown organization."


@dataclass(frozen=True, slots=True)
class OrganizationsPage:
    data: list[OrganizationRecord]
    page: int
    per_page: int
    total: int


@with_config(ConfigDict(extra="forbid", strict=True))
class OrganizationChange(TypedDict, total=False):
    name: PrintableName
    email_domains: Annotated[list[EmailDomain], Field(max_length=50)]


_CHANGE = TypeAdapter(OrganizationChange)


async def list_organizations(rt: Runtime, *, page: int, per_page: int) -> OrganizationsPage:
    """One page of every organization, by domain."""
    async with rt.db.transaction() as tx:
        total = await repo.count_organizations(tx)
        rows = await repo.list_organizations(tx, offset=(page - 1) * per_page, limit=per_page)
    return OrganizationsPage(rows, page, per_page, total)


async def update_organization(
    rt: Runtime, actor: Actor, domain: str, values: Mapping[str, Any]
) -> OrganizationRecord:
    """Set the fields given (the domain never changes: API paths and client ids hold it)."""
    try:
        change = dict(_CHANGE.validate_python(dict(values)))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors(exc)) from None
    async with rt.db.transaction() as tx:
        if change and not await repo.update_organization(tx, domain, change):
            raise NotFound(_UNKNOWN)
        org = await repo.get_organization(tx, domain)
        if org is None:
            raise NotFound(_UNKNOWN)
        details = {"domain": domain, "fields": sorted(change)}
        for env_name in ENVIRONMENTS:  # each environment's trail tells its own admins
            env = await repo.get_environment(tx, domain, env_name)
            env_id = None if env is None else env.id
            await audit(
                tx, rt, actor, "organization.update", "ok", environment_id=env_id, details=details
            )
    return org


async def delete_organization(rt: Runtime, actor: Actor, domain: str) -> None:
    """Delete it with everything in it; its audit trail stays (until its retention ends), and
    the deletion is audited in each of its environments' trails, which outlive them."""
    async with rt.db.transaction() as tx:
        env_ids = await repo.delete_organization(tx, domain)
        if env_ids is None:
            raise NotFound(_UNKNOWN)
        await delete_environment_counters(tx, env_ids)
        for env_id in env_ids:
            await audit(
                tx,
                rt,
                actor,
                "organization.delete",
                "ok",
                environment_id=env_id,
                details={"domain": domain},
            )
