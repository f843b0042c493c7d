"""Annotated dependency aliases that keep the routes short."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from twostep.errors import Forbidden
from twostep.identifiers import DOMAIN_PATTERN, MAX_DOMAIN
from twostep.services.organizations import PrincipalCache, authenticate, environment_for
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord, Principal
from twostep.web.client_address import backend_actor

__all__ = [
    "API_KEY",
    "ID_PATTERN",
    "AdminDep",
    "ApiKeyDoc",
    "ApplicationQuery",
    "KeyIdPath",
    "OrgPath",
    "OrgScope",
    "PrincipalDep",
    "RuntimeDep",
    "ScopeDep",
    "UserIdPath",
    "bearer_token",
    "get_admin",
    "get_principal",
    "get_runtime",
    "get_scope",
]

# Row ids are UUIDs and client ids are slugs: nothing else can name one.
ID_PATTERN = r"^[A-Za-z0-9._-]+$"


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
OrgPath = Annotated[str, Path(min_length=1, max_length=MAX_DOMAIN, pattern=DOMAIN_PATTERN)]
UserIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
KeyIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
ApplicationQuery = Annotated[
    str | None,
    Query(
        alias="application",
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="client_id of the application whose authenticator is meant",
    ),
]


# Only declares the scheme in the OpenAPI document (the Authorize button of /docs): the key is
# read and checked by ``authenticate``, so that a missing or wrong one is our 401 problem.
API_KEY = HTTPBearer(
    scheme_name="apiKey",
    description="An API key of an organization's environment, or the server-admin key.",
    auto_error=False,
)
ApiKeyDoc = Annotated[HTTPAuthorizationCredentials | None, Security(API_KEY)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def get_principal(request: Request, rt: RuntimeDep, _key: ApiKeyDoc) -> Principal:
    cache: PrincipalCache = request.app.state.principal_cache
    return await authenticate(rt, cache, bearer_token(request))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden("A server-admin API key is required.")
    return principal


AdminDep = Annotated[Principal, Depends(get_admin)]


def _actor(request: Request, principal: Principal) -> Actor:
    return backend_actor(request, f"apikey:{principal.key_id}")


@dataclass(frozen=True, slots=True)
class OrgScope:
    """What a route under /api/v1/org/{org} works with: the runtime, the environment the key
    may act on, and who asks (for the audit trail)."""

    rt: Runtime
    env: EnvironmentRecord
    actor: Actor
    # A server-admin key, which may act on any organization (and do what only admins may).
    is_admin: bool = False


async def get_scope(
    request: Request,
    org: OrgPath,
    _key: ApiKeyDoc,
    env: Annotated[
        str | None,
        Query(pattern="^(sandbox|production)$", description="for a server-admin key only"),
    ] = None,
) -> OrgScope:
    # One dependency instead of a chain of four: this runs on every call of the hot path.
    rt: Runtime = request.app.state.runtime
    principal = await authenticate(rt, request.app.state.principal_cache, bearer_token(request))
    environment = await environment_for(rt, principal, org, env)
    return OrgScope(rt, environment, _actor(request, principal), principal.is_admin)


ScopeDep = Annotated[OrgScope, Depends(get_scope)]
