"""Users, with their two-factor summary."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from twostep.services import accounts as svc
from twostep.web.api.schemas import UserCreate, UserOut, UserPatch, UsersPage
from twostep.web.deps import ApplicationQuery, ScopeDep, UserIdPath

__all__ = ["create_user", "delete_user", "list_users", "read_user", "router", "update_user"]

router = APIRouter(prefix="/api/v1/org/{org}/users", tags=["users"])


@router.get("", operation_id="listUsers")
async def list_users(
    scope: ScopeDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    q: Annotated[
        str | None,
        Query(
            max_length=320,
            description="keep users whose email, username or phone contains this text "
            "(case and accents ignored)",
        ),
    ] = None,
) -> UsersPage:
    found = await svc.list_users(scope.rt, scope.env, page=page, per_page=per_page, q=q)
    return UsersPage(
        data=[UserOut.of(v) for v in found.data],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="createUser")
async def create_user(body: UserCreate, scope: ScopeDep) -> UserOut:
    return UserOut.of(
        await svc.create_user(scope.rt, scope.actor, scope.env, body.model_dump(exclude_none=True))
    )


@router.get("/{user_id}", operation_id="getUser")
async def read_user(
    user_id: UserIdPath, scope: ScopeDep, application: ApplicationQuery = None
) -> UserOut:
    return UserOut.of(await svc.get_user(scope.rt, scope.env, user_id, application))


@router.patch("/{user_id}", operation_id="updateUser")
async def update_user(user_id: UserIdPath, body: UserPatch, scope: ScopeDep) -> UserOut:
    values = body.model_dump(exclude_unset=True)
    if "status" in values and values["status"] is None:
        del values["status"]  # a user always has a status: null leaves it as it is
    return UserOut.of(await svc.update_user(scope.rt, scope.actor, scope.env, user_id, values))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="deleteUser")
async def delete_user(user_id: UserIdPath, scope: ScopeDep) -> Response:
    await svc.delete_user(scope.rt, scope.actor, scope.env, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
