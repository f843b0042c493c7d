"""The audit trail of an environment: who did what, when, from where, with what outcome."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from twostep.services.audit import list_audit
from twostep.web.api.schemas import iso
from twostep.web.deps import ID_PATTERN, ScopeDep

router = APIRouter(prefix="/api/v1/org/{org}", tags=["audit"])


class AuditEventOut(BaseModel):
    at: str | None
    actor: str
    action: str
    user_id: str | None
    outcome: str
    ip: str | None
    details: dict[str, Any] | None


class AuditPage(BaseModel):
    data: list[AuditEventOut]


@router.get("/audit-events")
async def read_audit_events(
    scope: ScopeDep,
    user: Annotated[str | None, Query(min_length=1, max_length=64, pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Newest first. Never holds a code, a secret or a password: only what happened."""
    events = await list_audit(scope.rt, scope.env, user_id=user, limit=limit)
    return AuditPage(
        data=[
            AuditEventOut(
                at=iso(e.at),
                actor=e.actor,
                action=e.action,
                user_id=e.user_id,
                outcome=e.outcome,
                ip=e.ip,
                details=e.details,
            )
            for e in events
        ]
    )
