"""Organizations and their auth config."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, status

from twostep.services import organizations as svc
from twostep.services.runtime import Actor
from twostep.web.api.schemas import OrganizationCreate, OrganizationOut, iso
from twostep.web.deps import AdminDep, OrgPath, PrincipalDep, RuntimeDep, ScopeDep

__all__ = [
    "create_organization",
    "patch_auth_config",
    "read_auth_config",
    "read_organization",
    "router",
]

router = APIRouter(prefix="/api/v1", tags=["organizations"])


@router.post(
    "/organizations",
    status_code=status.HTTP_201_CREATED,
    operation_id="createOrganization",
)
async def create_organization(
    body: OrganizationCreate, rt: RuntimeDep, admin: AdminDep
) -> OrganizationOut:
    """Create an organization; the answer carries one API key per environment, shown once."""
    created = await svc.create_organization(
        rt,
        Actor(f"apikey:{admin.key_id}"),
        name=body.name,
        domain=body.domain,
        email_domains=body.email_domains,
    )
    org = created.organization
    return OrganizationOut(
        id=org.id,
        domain=org.domain,
        name=org.name,
        email_domains=org.email_domains,
        created_at=iso(org.created_at),
        api_keys=created.api_keys,
    )


@router.get(
    "/organizations/{org}",
    response_model_exclude_none=True,
    operation_id="getOrganization",
)
async def read_organization(
    org: OrgPath, rt: RuntimeDep, principal: PrincipalDep
) -> OrganizationOut:
    found = await svc.get_organization(rt, principal, org)
    return OrganizationOut(
        id=found.id,
        domain=found.domain,
        name=found.name,
        email_domains=found.email_domains,
        created_at=iso(found.created_at),
    )


@router.get("/org/{org}/auth-config", tags=["auth-config"], operation_id="getAuthConfig")
async def read_auth_config(scope: ScopeDep) -> dict[str, Any]:
    """The environment's auth config, every field with its effective value (spec section 4).

    With a webhook set, ``delivery.webhook.signing_key`` is the key its bodies are signed with.
    """
    return await svc.get_auth_config(scope.rt, scope.env)


@router.patch("/org/{org}/auth-config", tags=["auth-config"], operation_id="patchAuthConfig")
async def patch_auth_config(
    scope: ScopeDep,
    patch: Any = Body(
        ...,
        media_type="application/merge-patch+json",
        examples=[{"totp": {"active": True, "digits": 6}}],
    ),
) -> dict[str, Any]:
    """Change it with a JSON merge patch (RFC 7396); ``null`` resets a field to its default.

    ``delivery.webhook.signing_key`` is read-only: sent back, it is ignored.
    """
    return await svc.patch_auth_config(scope.rt, scope.actor, scope.env, patch)
