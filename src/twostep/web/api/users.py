"""Users, with their two-factor summary."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from twostep.services import accounts as svc
from twostep.web.api.schemas import UserCreate, UserOut, UserPatch, UsersPage
from twostep.web.deps import ApplicationQuery, ScopeDep, UserIdPath

router = APIRouter(prefix="/api/v1/org/{org}/users", tags=["users"])


@router.get("")
async def list_users(
    scope: ScopeDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> UsersPage:
    found = await svc.list_users(scope.rt, scope.env, page=page, per_page=per_page)
    return UsersPage(
        data=[UserOut.of(v) for v in found.data],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, scope: ScopeDep) -> UserOut:
    return UserOut.of(
        await svc.create_user(scope.rt, scope.actor, scope.env, body.model_dump(exclude_none=True))
    )


@router.get("/{user_id}")
async def read_user(
    user_id: UserIdPath, scope: ScopeDep, application: ApplicationQuery = None
) -> UserOut:
    return UserOut.of(await svc.get_user(scope.rt, scope.env, user_id, application))


@router.patch("/{user_id}")
async def update_user(user_id: UserIdPath, body: UserPatch, scope: ScopeDep) -> UserOut:
    values = body.model_dump(exclude_unset=True)
    if "status" in values and values["status"] is None:
        del values["status"]  # a user always has a status: null leaves it as it is
    return UserOut.of(await svc.update_user(scope.rt, scope.actor, scope.env, user_id, values))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: UserIdPath, scope: ScopeDep) -> Response:
    await svc.delete_user(scope.rt, scope.actor, scope.env, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
