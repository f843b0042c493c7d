"""What an admin gives a user who lost their phone (issue 12.4): the reason a reset carries,
and a one-time bypass code instead of a reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from twostep.services.admin_recovery import MAX_REASON, issue_bypass_code
from twostep.web.api.schemas import iso
from twostep.web.deps import ScopeDep, UserIdPath

__all__ = ["BypassCodeOut", "ReasonBody", "ReasonQuery", "issue_bypass", "reason_of", "router"]

router = APIRouter(prefix="/api/v1/org/{org}/users/{user_id}", tags=["totp"])


class ReasonBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"reason": "lost phone, ticket 4711"}]},
    )

    reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REASON)]


ReasonQuery = Annotated[
    str | None,
    Query(max_length=MAX_REASON, description="why; kept in the audit trail (or in the body)"),
]


def reason_of(body: ReasonBody | None, query: str | None) -> str | None:
    """The reason from the JSON body, else from the query; the service refuses none."""
    return body.reason if body is not None else query


class BypassCodeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "7k2m-9xq4-hr3t-b8vw", "expires_at": "2026-12-01T20:00:00+00:00"}]
        }
    )

    code: str = Field(description="shown only in this answer; typed where a recovery code is")
    expires_at: str | None


@router.post("/bypass-code", status_code=status.HTTP_201_CREATED, operation_id="issueBypassCode")
async def issue_bypass(user_id: UserIdPath, body: ReasonBody, scope: ScopeDep) -> BypassCodeOut:
    """A one-time code the user's next sign-in accepts once in place of a code, valid for
    ``TWOSTEP_BYPASS_TTL_S``; it replaces an earlier one. Using it removes the user's
    authenticators and leads the sign-in into enrollment. Audited with the reason."""
    issued = await issue_bypass_code(scope.rt, scope.actor, scope.env, user_id, body.reason)
    return BypassCodeOut(code=issued.code, expires_at=iso(issued.expires_at))
