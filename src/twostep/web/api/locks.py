"""Lock pairing of a user (spec 3.13): pair, open/close, unpair (which removes TOTP too)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from twostep.services import locks
from twostep.web.api.schemas import LockPatch, UserOut
from twostep.web.deps import ScopeDep, UserIdPath

__all__ = ["pair_lock", "router", "set_lock", "unpair_lock"]

router = APIRouter(prefix="/api/v1/org/{org}/users/{user_id}/lock", tags=["lock"])


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="pairLock")
async def pair_lock(user_id: UserIdPath, scope: ScopeDep) -> UserOut:
    """Pair an open lock (needs `lock.enabled` in the auth config)."""
    return UserOut.of(await locks.pair_lock(scope.rt, scope.actor, scope.env, user_id))


@router.patch("", operation_id="setLock")
async def set_lock(user_id: UserIdPath, body: LockPatch, scope: ScopeDep) -> UserOut:
    """Close the lock to refuse every login (`account_locked`), open it to allow them again."""
    view = await locks.set_lock(scope.rt, scope.actor, scope.env, user_id, closed=body.closed)
    return UserOut.of(view)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, operation_id="unpairLock")
async def unpair_lock(user_id: UserIdPath, scope: ScopeDep) -> Response:
    """Unpair the lock; the user's authenticators and recovery codes go with it."""
    await locks.unpair_lock(scope.rt, scope.actor, scope.env, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
