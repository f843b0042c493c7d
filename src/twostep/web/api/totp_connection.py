"""Cryptr's ``/api/v2/org/{domain}/totp-connection``: the ``totp.active`` switch of the auth
config under the name Cryptr's clients call, taking form data (``active=true``) or JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from twostep.errors import ValidationFailed
from twostep.services import organizations as svc
from twostep.web.deps import ScopeDep

__all__ = ["TotpConnectionOut", "read_totp_connection", "router", "set_totp_connection"]

router = APIRouter(prefix="/api/v2", tags=["auth-config"])

_FORM = "application/x-www-form-urlencoded"
_BOOLEANS = {"true": True, "false": False}
_BODY_SCHEMA = {
    "type": "object",
    "required": ["active"],
    "properties": {"active": {"type": "boolean"}},
    "examples": [{"active": True}],
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            _FORM: {"schema": {**_BODY_SCHEMA, "examples": [{"active": "true"}]}},
            "application/json": {"schema": _BODY_SCHEMA},
        },
    }
}


class TotpConnectionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"active": True}]})

    active: bool


@router.get("/org/{org}/totp-connection", operation_id="getTotpConnection")
async def read_totp_connection(scope: ScopeDep) -> TotpConnectionOut:
    """Whether TOTP is switched on for the environment: ``totp.active`` of the auth config."""
    config = await svc.get_auth_config(scope.rt, scope.env)
    return TotpConnectionOut(active=bool(config["totp"]["active"]))


@router.put("/org/{org}/totp-connection", operation_id="setTotpConnection", openapi_extra=_BODY)
async def set_totp_connection(request: Request, scope: ScopeDep) -> TotpConnectionOut:
    """Switch TOTP on or off: ``active=true|false`` as form data, or ``{"active": true}``."""
    active = await _active(request)
    config = await svc.patch_auth_config(
        scope.rt, scope.actor, scope.env, {"totp": {"active": active}}
    )
    return TotpConnectionOut(active=bool(config["totp"]["active"]))


async def _active(request: Request) -> bool:
    value: Any
    if request.headers.get("content-type", "").split(";")[0].strip() == _FORM:
        raw = (await request.form()).get("active")
        value = _BOOLEANS.get(raw.strip().lower()) if isinstance(raw, str) else None
    else:
        try:
            body = await request.json()
        except ValueError:
            body = None
        value = body.get("active") if isinstance(body, dict) else None
    if not isinstance(value, bool):
        raise ValidationFailed(
            errors=[
                {"loc": ["body", "active"], "msg": "true or false required", "type": "bool_type"}
            ]
        )
    return value
