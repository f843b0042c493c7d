"""The audit trail of an environment: who did what, when, from where, with what outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from twostep.services.audit import continuing, export_audit, page_audit
from twostep.services.audit_export import MEDIA_TYPES, ExportFormat, export_lines
from twostep.storage.repositories.audit import AuditEvent, AuditFilter
from twostep.web.api.schemas import iso
from twostep.web.deps import ID_PATTERN, OrgScope, ScopeDep

__all__ = ["AuditEventOut", "AuditPage", "read_audit_events", "router"]

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
    # Pass it back as ``cursor`` for the next (older) page; null on the last one.
    next_cursor: str | None = None


def _out(e: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        at=iso(e.at),
        actor=e.actor,
        action=e.action,
        user_id=e.user_id,
        outcome=e.outcome,
        ip=e.ip,
        details=e.details,
    )


# Times are shown to the microsecond, rounded: half of one back, so that ``since`` and
# ``until`` set to a time the answer showed include (since) and exclude (until) that event.
_HALF_MICROSECOND = 5e-7


def _epoch(moment: datetime | None) -> float | None:
    """A query's date and time as epoch seconds; one without a zone is taken as UTC."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.timestamp() - _HALF_MICROSECOND


def _chosen_format(
    fmt: Literal["json", "ndjson", "csv"] | None, accept: str | None
) -> ExportFormat | None:
    """``?format=`` first, else the Accept header; None for the JSON page."""
    if fmt == "ndjson" or fmt == "csv":
        return fmt
    if fmt is None and accept:
        if MEDIA_TYPES["ndjson"] in accept:
            return "ndjson"
        if MEDIA_TYPES["csv"] in accept:
            return "csv"
    return None


def _export(scope: OrgScope, where: AuditFilter, fmt: ExportFormat) -> StreamingResponse:
    lines = export_lines(export_audit(scope.rt, scope.env, where), fmt)
    name = f"audit-{scope.env.organization_domain}-{scope.env.name}.{fmt}"
    return StreamingResponse(
        lines,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


_EXPORT_CONTENT = {
    "application/x-ndjson": {"schema": {"type": "string"}},
    "text/csv": {"schema": {"type": "string"}},
}


@router.get(
    "/audit-events",
    operation_id="listAuditEvents",
    response_model=AuditPage,
    responses={200: {"content": _EXPORT_CONTENT}},
)
async def read_audit_events(
    scope: ScopeDep,
    user: Annotated[str | None, Query(min_length=1, max_length=64, pattern=ID_PATTERN)] = None,
    action: Annotated[
        str | None, Query(min_length=1, max_length=50, pattern=r"^[a-z0-9_.-]+$")
    ] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    format: Annotated[Literal["json", "ndjson", "csv"] | None, Query()] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response | AuditPage:
    """Newest first. Never holds a code, a secret or a password: only what happened.

    A page holds up to ``limit`` events and a ``next_cursor`` for the next one. With
    ``format=ndjson`` or ``csv`` (or ``Accept: application/x-ndjson`` or ``text/csv``) the
    answer is a file of every matching event instead (from ``cursor`` on; ``limit`` ignored).
    """
    where = AuditFilter(user_id=user, action=action, since=_epoch(since), until=_epoch(until))
    fmt = _chosen_format(format, accept)
    if fmt is not None:
        return _export(scope, continuing(where, cursor), fmt)
    page = await page_audit(scope.rt, scope.env, where, limit=limit, cursor=cursor)
    return AuditPage(data=[_out(e) for e in page.events], next_cursor=page.next_cursor)
