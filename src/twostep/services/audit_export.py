"""The audit trail as files an operator keeps or feeds to a SIEM: NDJSON and CSV.

Shared by ``GET .../audit-events?format=`` and ``twostep audit export``, so that both write
the same columns. Each event carries its place in the environment's hash chain and the hashes
that link it, so that a copy (NDJSON) can be checked on its own (docs/audit-trail.md).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from twostep.storage.audit_chain import event_time
from twostep.storage.repositories.audit import AuditEvent

__all__ = ["COLUMNS", "MEDIA_TYPES", "ExportFormat", "event_fields", "export_lines"]

ExportFormat = Literal["ndjson", "csv"]
MEDIA_TYPES: dict[ExportFormat, str] = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "user_id",
    "outcome",
    "ip",
    "details",
    "seq",
    "prev_hash",
    "hash",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such
# text (an identifier typed by an end user can reach ``details``) is written behind a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """One event as plain JSON values, its time in ISO 8601 UTC (as its hash covers it)."""
    return {
        "id": event.id,
        "at": event_time(event.at),
        "actor": event.actor,
        "action": event.action,
        "user_id": event.user_id,
        "outcome": event.outcome,
        "ip": event.ip,
        "details": event.details,
        "seq": event.seq,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


async def export_lines(events: AsyncIterator[AuditEvent], fmt: ExportFormat) -> AsyncIterator[str]:
    """The lines of the file, header first for CSV; each ends with a newline."""
    if fmt == "csv":
        yield _csv_line(list(COLUMNS))
    async for event in events:
        fields = event_fields(event)
        if fmt == "ndjson":
            yield json.dumps(fields, sort_keys=True) + "\n"
        else:
            yield _csv_line([_cell(fields[c]) for c in COLUMNS])
