"""A user's trusted browsers ("remember this device", issue 12.2): list and revoke them."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict

from twostep.services import devices
from twostep.web.api.schemas import iso
from twostep.web.deps import KeyIdPath, ScopeDep, UserIdPath

__all__ = ["DeviceOut", "list_user_devices", "revoke_user_device", "router"]

router = APIRouter(prefix="/api/v1/org/{org}/users/{user_id}", tags=["users"])


class DeviceOut(BaseModel):
    """A browser the user trusted to skip the code (never its token)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5f0c6a57-9a43-4f7e-9d2e-0f8f1c2b7a10",
                    "agent": "Firefox on Linux",
                    "created_at": "2026-12-01T18:00:00Z",
                    "last_used_at": "2026-12-03T08:12:00Z",
                    "expires_at": "2026-12-31T18:00:00Z",
                }
            ]
        }
    )

    id: str
    agent: str
    created_at: str | None
    last_used_at: str | None
    expires_at: str | None


@router.get("/devices", operation_id="listUserDevices")
async def list_user_devices(user_id: UserIdPath, scope: ScopeDep) -> list[DeviceOut]:
    """The user's trusted browsers, most recently used first."""
    found = await devices.list_devices(scope.rt, scope.env, user_id)
    return [
        DeviceOut(
            id=d.id,
            agent=d.agent,
            created_at=iso(d.created_at),
            last_used_at=iso(d.last_used_at),
            expires_at=iso(d.expires_at),
        )
        for d in found
    ]


@router.delete(
    "/devices/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="revokeUserDevice",
)
async def revoke_user_device(
    user_id: UserIdPath, device_id: KeyIdPath, scope: ScopeDep
) -> Response:
    """Stop trusting one of the user's browsers: its next sign-in asks the code."""
    await devices.forget_device(scope.rt, scope.actor, scope.env, user_id, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
