"""``twostep audit verify`` and ``twostep audit anchor``: the audit trail's hash chains checked,
and their heads anchored in a file (docs/audit-trail.md). Added to the ``audit`` group of
``cli_admin`` when ``twostep.cli`` imports this module."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from twostep.cli_admin import audit_app
from twostep.settings import Settings

if TYPE_CHECKING:
    from twostep.services.audit_verify import ChainReport
    from twostep.services.runtime import Runtime

__all__ = ["audit_anchor", "audit_verify"]

_AnchorFile = Annotated[
    Path | None,
    typer.Option("--anchor-file", help="default: TWOSTEP_AUDIT_ANCHOR_FILE"),
]


def _describe(report: ChainReport) -> str:
    broken = report.broken
    if broken is not None:
        row = "missing" if broken.id is None else f"id {broken.id}"
        return f"{report.name}: BROKEN at seq {broken.seq} ({row}): {broken.kind}: {broken.detail}"
    if report.events == 0:
        text = f"{report.name}: ok: no events"
    else:
        places = f"seq {report.first_seq} to {report.last_seq}"
        text = f"{report.name}: ok: {report.events} events, {places}"
    if report.pruned_seq:
        when = datetime.fromtimestamp(report.pruned_at or 0, tz=UTC).isoformat("T", "seconds")
        text += f"; pruned by retention through seq {report.pruned_seq} ({when})"
    if report.anchors_checked:
        text += f"; {report.anchors_checked} anchors matched"
    return text


def _as_json(report: ChainReport) -> str:
    broken = report.broken
    fields: dict[str, Any] = {
        "chain": report.chain or None,
        "name": report.name,
        "ok": broken is None,
        "events": report.events,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "pruned_seq": report.pruned_seq,
        "anchors_checked": report.anchors_checked,
        "break": None
        if broken is None
        else {"kind": broken.kind, "seq": broken.seq, "id": broken.id, "detail": broken.detail},
    }
    return json.dumps(fields, sort_keys=True)


@audit_app.command("verify")
def audit_verify(
    org: Annotated[
        str | None, typer.Option("--org", help="organization domain; every chain if omitted")
    ] = None,
    env: Annotated[str, typer.Option("--env", help="sandbox or production")] = "production",
    anchor_file: _AnchorFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per chain")] = False,
) -> None:
    """Walk the audit chains (or one environment's) and name the first broken link of each:
    an event edited, deleted or reordered, or a trail truncated; exit 1 on any."""
    from twostep import cli
    from twostep.errors import TwostepError
    from twostep.services.audit_anchors import read_anchors
    from twostep.services.audit_verify import verify_chains
    from twostep.services.organizations import environment_for
    from twostep.storage.repositories.organizations import Principal

    path = anchor_file or Settings().audit_anchor_file
    anchors, failed = {}, False
    if path is not None:
        if not path.is_file():
            typer.echo(f"anchor file {path} does not exist", err=True)
            raise typer.Exit(1)
        read = read_anchors(path)
        anchors = read.by_chain
        for number in read.bad_lines:
            typer.echo(f"anchor file {path} line {number}: not an anchor", err=True)
            failed = True

    async def work(rt: Runtime) -> bool:
        only = None
        if org is not None:
            only = (await environment_for(rt, Principal("cli", None), org, env)).id
        broken = False
        async for report in verify_chains(rt, anchors, only):
            typer.echo(_as_json(report) if as_json else _describe(report))
            broken = broken or report.broken is not None
        return broken

    try:
        broken = cli._with_runtime(work)
    except TwostepError as exc:
        typer.echo(f"error: {exc.code}: {exc.msgid}", err=True)
        raise typer.Exit(1) from exc
    if broken or failed:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(anchor_file: _AnchorFile = None) -> None:
    """Append the head of every audit chain to the anchor file (what the server does every
    TWOSTEP_AUDIT_ANCHOR_INTERVAL_S when TWOSTEP_AUDIT_ANCHOR_FILE is set)."""
    from twostep import cli
    from twostep.services.audit_anchors import append_anchors

    path = anchor_file or Settings().audit_anchor_file
    if path is None:
        raise typer.BadParameter(
            "set TWOSTEP_AUDIT_ANCHOR_FILE or pass it", param_hint="--anchor-file"
        )
    written = cli._with_runtime(lambda rt: append_anchors(rt, path))
    typer.echo(f"{written} chain heads appended to {path}")
