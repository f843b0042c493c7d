"""Applications: the OAuth clients of an environment, and their secrets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from twostep.policy import TotpOverride
from twostep.services import applications as svc
from twostep.services.applications import (
    AccessTokenExpiration,
    ApplicationName,
    ClientId,
    GrantTypes,
    RedirectUris,
)
from twostep.storage.repositories.applications import ApplicationRecord, TokenFormat
from twostep.web.api.schemas import iso
from twostep.web.deps import ID_PATTERN, ScopeDep

__all__ = [
    "ApplicationCreate",
    "ApplicationOut",
    "ApplicationPatch",
    "ApplicationSecretOut",
    "ApplicationsPage",
    "ClientIdPath",
    "TotpOverrideOut",
    "create_application",
    "delete_application",
    "list_applications",
    "read_application",
    "rotate_secret",
    "router",
    "update_application",
]

router = APIRouter(prefix="/api/v1/org/{org}/applications", tags=["applications"])

ClientIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
# Answers that carry a secret must not be kept by a cache on the way.
_NO_STORE = {"Cache-Control": "no-store"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ApplicationCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "shop-web",
                    "name": "Shop",
                    "redirect_uris": ["https://shop.example.com/callback"],
                    "secret_required": True,
                }
            ]
        }
    )

    client_id: ClientId | None = Field(
        None, description="3 to 64 of a-z 0-9 . _ -; generated (app-<random>) when absent"
    )
    name: ApplicationName | None = Field(None, description="defaults to the client_id")
    redirect_uris: RedirectUris | None = Field(
        None,
        description="exact https URLs (http only on localhost); at least one for the code flow",
    )
    grant_types: GrantTypes | None = Field(
        None, description='default ["authorization_code", "refresh_token"]'
    )
    secret_required: bool | None = Field(
        None, description="a confidential client (default false): the answer shows its secret"
    )
    access_token_expiration: AccessTokenExpiration | None = Field(
        None, description="seconds, 60 to 86400 (default 3600)"
    )
    token_format: TokenFormat | None = Field(None, description="default jwt")
    refresh_token: bool | None = Field(None, description="issue refresh tokens (default true)")
    first_party: bool | None = Field(None, description="default true")
    totp_override: TotpOverride | None = Field(
        None, description="algorithm, digits, period of its authenticators; else the environment's"
    )


class ApplicationPatch(_Body):
    """Absent fields stay; ``totp_override: null`` removes the override."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"access_token_expiration": 900, "totp_override": {"digits": 8}}]
        }
    )

    name: ApplicationName | None = None
    redirect_uris: RedirectUris | None = None
    grant_types: GrantTypes | None = None
    secret_required: bool | None = None
    access_token_expiration: AccessTokenExpiration | None = None
    token_format: TokenFormat | None = None
    refresh_token: bool | None = None
    first_party: bool | None = None
    totp_override: TotpOverride | None = None


class TotpOverrideOut(BaseModel):
    algorithm: str | None
    digits: int | None
    period: int | None


class ApplicationOut(BaseModel):
    client_id: str
    name: str
    is_default: bool
    redirect_uris: list[str]
    grant_types: list[str]
    secret_required: bool
    has_secret: bool = Field(description="whether a secret is set (it is never shown again)")
    access_token_expiration: int
    token_format: TokenFormat
    refresh_token: bool
    first_party: bool
    totp_override: TotpOverrideOut | None
    created_at: str | None
    updated_at: str | None

    @classmethod
    def fields_of(cls, app: ApplicationRecord) -> dict[str, object]:
        override = app.totp_override
        return {
            "client_id": app.client_id,
            "name": app.name,
            "is_default": app.is_default,
            "redirect_uris": list(app.redirect_uris),
            "grant_types": list(app.grant_types),
            "secret_required": app.secret_required,
            "has_secret": app.has_secret,
            "access_token_expiration": app.access_token_expiration,
            "token_format": app.token_format,
            "refresh_token": app.refresh_token,
            "first_party": app.first_party,
            "totp_override": None
            if override is None
            else TotpOverrideOut(
                algorithm=override.get("algorithm"),
                digits=override.get("digits"),
                period=override.get("period"),
            ),
            "created_at": iso(app.created_at),
            "updated_at": iso(app.updated_at),
        }

    @classmethod
    def of(cls, app: ApplicationRecord) -> ApplicationOut:
        return cls.model_validate(cls.fields_of(app))


class ApplicationSecretOut(ApplicationOut):
    client_secret: str | None = Field(
        None, description="Only in the answers that create a confidential client or rotate it"
    )

    @classmethod
    def issued(cls, issued: svc.IssuedSecret) -> ApplicationSecretOut:
        fields = cls.fields_of(issued.application)
        if issued.client_secret is not None:
            fields["client_secret"] = issued.client_secret
        return cls.model_validate(fields)


class ApplicationsPage(BaseModel):
    data: list[ApplicationOut]
    page: int
    per_page: int
    total: int


@router.get("", operation_id="listApplications")
async def list_applications(
    scope: ScopeDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ApplicationsPage:
    found = await svc.list_applications(scope.rt, scope.env, page=page, per_page=per_page)
    return ApplicationsPage(
        data=[ApplicationOut.of(app) for app in found.data],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model_exclude_unset=True,
    operation_id="createApplication",
)
async def create_application(
    body: ApplicationCreate, scope: ScopeDep, response: Response
) -> ApplicationSecretOut:
    """Create an application; a confidential one's ``client_secret`` is in this answer only."""
    created = await svc.create_application(
        scope.rt, scope.actor, scope.env, body.model_dump(exclude_none=True)
    )
    response.headers.update(_NO_STORE)
    return ApplicationSecretOut.issued(created)


@router.get("/{client_id}", operation_id="getApplication")
async def read_application(client_id: ClientIdPath, scope: ScopeDep) -> ApplicationOut:
    return ApplicationOut.of(await svc.get_application(scope.rt, scope.env, client_id))


@router.patch("/{client_id}", operation_id="updateApplication")
async def update_application(
    client_id: ClientIdPath, body: ApplicationPatch, scope: ScopeDep
) -> ApplicationOut:
    """Change the given fields; the whole must still follow the rules (a 422 names the field)."""
    values = body.model_dump(exclude_unset=True)
    return ApplicationOut.of(
        await svc.update_application(scope.rt, scope.actor, scope.env, client_id, values)
    )


@router.delete(
    "/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteApplication",
)
async def delete_application(client_id: ClientIdPath, scope: ScopeDep) -> Response:
    """Delete it with its authenticators and their recovery codes (not the default one)."""
    await svc.delete_application(scope.rt, scope.actor, scope.env, client_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{client_id}/secret",
    response_model_exclude_unset=True,
    operation_id="rotateApplicationSecret",
)
async def rotate_secret(
    client_id: ClientIdPath, scope: ScopeDep, response: Response
) -> ApplicationSecretOut:
    """A new ``client_secret``, shown in this answer only; the old one stops working now."""
    rotated = await svc.rotate_secret(scope.rt, scope.actor, scope.env, client_id)
    response.headers.update(_NO_STORE)
    return ApplicationSecretOut.issued(rotated)
