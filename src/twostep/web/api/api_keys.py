"""API keys of an environment (spec 3b.7): created with a name and shown once, listed without
their secret, revoked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from twostep.services import organizations as svc
from twostep.storage.repositories.organizations import ApiKeyRecord
from twostep.web.api.schemas import iso
from twostep.web.deps import KeyIdPath, ScopeDep

__all__ = [
    "ApiKeyCreate",
    "ApiKeyOut",
    "ApiKeySecretOut",
    "ApiKeysPage",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
    "router",
]

router = APIRouter(prefix="/api/v1/org/{org}/api-keys", tags=["api keys"])

# The answer that carries a secret must not be kept by a cache on the way.
_NO_STORE = {"Cache-Control": "no-store"}


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"name": "billing backend"}]}
    )

    name: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    ] = Field(description="what the key is for, as its owner calls it")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str | None = Field(description="the first characters of the key, to recognise it")
    created_at: str | None
    last_used_at: str | None = Field(description="noted about once a minute at most")
    revoked_at: str | None

    @classmethod
    def of(cls, key: ApiKeyRecord) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            created_at=iso(key.created_at),
            last_used_at=iso(key.last_used_at),
            revoked_at=iso(key.revoked_at),
        )


class ApiKeySecretOut(ApiKeyOut):
    key: str = Field(description="the API key itself; shown only in this answer")


class ApiKeysPage(BaseModel):
    data: list[ApiKeyOut]


@router.get("", operation_id="listApiKeys")
async def list_api_keys(scope: ScopeDep) -> ApiKeysPage:
    """The environment's keys, revoked ones included, newest first; never a secret."""
    return ApiKeysPage(data=[ApiKeyOut.of(k) for k in await svc.list_api_keys(scope.rt, scope.env)])


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="createApiKey")
async def create_api_key(
    body: ApiKeyCreate, scope: ScopeDep, response: Response
) -> ApiKeySecretOut:
    """A new key of the environment; the answer carries the key, shown this once."""
    issued = await svc.issue_api_key(scope.rt, scope.actor, scope.env, body.name)
    response.headers.update(_NO_STORE)
    return ApiKeySecretOut(**ApiKeyOut.of(issued.key).model_dump(), key=issued.secret)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="revokeApiKey")
async def revoke_api_key(key_id: KeyIdPath, scope: ScopeDep, request: Request) -> Response:
    """Revoke a key of the environment (a key may revoke itself): refused at once on this
    server, within 5 s on every other; `404` for a key of another environment."""
    await svc.revoke_api_key(
        scope.rt, scope.actor, scope.env, key_id, cache=request.app.state.principal_cache
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
