"""Organizations as a server admin manages them: list, rename, change email domains, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from twostep.identifiers import EmailDomain, PrintableName
from twostep.services import organization_admin as svc
from twostep.services.runtime import Actor
from twostep.storage.repositories.organizations import OrganizationRecord
from twostep.web.api.schemas import OrganizationOut, iso
from twostep.web.deps import AdminDep, OrgPath, RuntimeDep

__all__ = [
    "OrganizationPatch",
    "OrganizationsPage",
    "delete_organization",
    "list_organizations",
    "router",
    "update_organization",
]

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"])


class OrganizationPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"name": "Acme", "email_domains": ["acme.test"]}]},
    )

    name: PrintableName | None = None
    email_domains: list[EmailDomain] | None = Field(None, max_length=50)


class OrganizationsPage(BaseModel):
    data: list[OrganizationOut]
    page: int
    per_page: int
    total: int


def _out(org: OrganizationRecord) -> OrganizationOut:
    return OrganizationOut(
        id=org.id,
        domain=org.domain,
        name=org.name,
        email_domains=org.email_domains,
        created_at=iso(org.created_at),
    )


@router.get("", response_model_exclude_none=True, operation_id="listOrganizations")
async def list_organizations(
    rt: RuntimeDep,
    admin: AdminDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrganizationsPage:
    """Every organization, by domain (server-admin key only)."""
    found = await svc.list_organizations(rt, page=page, per_page=per_page)
    return OrganizationsPage(
        data=[_out(o) for o in found.data],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


@router.patch("/{org}", response_model_exclude_none=True, operation_id="updateOrganization")
async def update_organization(
    org: OrgPath, body: OrganizationPatch, rt: RuntimeDep, admin: AdminDep
) -> OrganizationOut:
    """Change the name or the email domains (server-admin key only); the domain never changes."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return _out(await svc.update_organization(rt, Actor(f"apikey:{admin.key_id}"), org, values))


@router.delete("/{org}", status_code=status.HTTP_204_NO_CONTENT, operation_id="deleteOrganization")
async def delete_organization(
    org: OrgPath, request: Request, rt: RuntimeDep, admin: AdminDep
) -> Response:
    """Delete the organization with its environments, API keys, applications, users and
    authenticators (server-admin key only; audited). Its audit trail is kept."""
    await svc.delete_organization(rt, Actor(f"apikey:{admin.key_id}"), org)
    # Its keys stop here at once; other processes drop them within the cache's 5 seconds.
    request.app.state.principal_cache.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
