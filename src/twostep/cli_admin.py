"""Admin tasks from a shell: ``org list``, ``user list|find|reset-2fa``, ``audit export`` and
``backup``. Each is the same service call as its management API route."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from twostep.settings import Settings

if TYPE_CHECKING:
    from twostep.services.accounts import UserView
    from twostep.services.runtime import Runtime
    from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = [
    "audit_app",
    "audit_export",
    "backup",
    "org_list",
    "user_bypass_code",
    "user_find",
    "user_list",
    "user_reset_2fa",
]

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
T = TypeVar("T")
_Org = Annotated[str, typer.Option("--org", help="organization domain")]
_Env = Annotated[str, typer.Option("--env", help="sandbox or production")]
_PAGE = 100


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    # `twostep.cli` imports this module to register its commands: its runner is read late.
    from twostep import cli

    return cli._with_runtime(work)


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """``work`` with a runtime; a refusal (unknown user, bad cursor...) is a message, exit 1."""
    from twostep.errors import TwostepError

    try:
        return _with_runtime(work)
    except TwostepError as exc:
        typer.echo(f"error: {exc.code}: {exc.msgid}", err=True)
        raise typer.Exit(1) from exc


async def _environment(rt: Runtime, org: str, env: str) -> EnvironmentRecord:
    from twostep.services.organizations import environment_for
    from twostep.storage.repositories.organizations import Principal

    return await environment_for(rt, Principal("cli", None), org, env)


def _iso(epoch: float | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat("T", "seconds")


def org_list() -> None:
    """List every organization: domain, created, email domains, name."""
    from twostep.services.organization_admin import list_organizations
    from twostep.storage.repositories.organizations import OrganizationRecord

    async def work(rt: Runtime) -> list[OrganizationRecord]:
        found, page = [], 1
        while True:
            chunk = await list_organizations(rt, page=page, per_page=_PAGE)
            found += chunk.data
            if len(chunk.data) < _PAGE:
                return found
            page += 1

    for org in _run(work):
        domains = ",".join(org.email_domains) or "-"
        typer.echo(f"{org.domain}  created {_iso(org.created_at)}  {domains}  {org.name}")


def _user_line(view: UserView) -> str:
    u, tf = view.user, view.two_factor
    second = tf.status or "none"
    return "\t".join([u.id, u.email or "-", u.username or "-", u.phone or "-", u.status, second])


def user_list(
    org: _Org,
    env: _Env = "production",
    q: Annotated[
        str | None, typer.Option("--q", help="email, username or phone containing this")
    ] = None,
) -> None:
    """List users, tab-separated: id, email, username, phone, status, TOTP status."""
    from twostep.services.accounts import list_users

    async def work(rt: Runtime) -> list[UserView]:
        environment = await _environment(rt, org, env)
        found, page = [], 1
        while True:
            chunk = await list_users(rt, environment, page=page, per_page=_PAGE, q=q)
            found += chunk.data
            if len(chunk.data) < _PAGE:
                return found
            page += 1

    for view in _run(work):
        typer.echo(_user_line(view))


def user_find(
    identifier: Annotated[str, typer.Argument(help="the user's id, email or username")],
    org: _Org,
    env: _Env = "production",
) -> None:
    """Print one user as JSON, with their two-factor summary."""
    from dataclasses import asdict

    from twostep.services.user_admin import find_user

    async def work(rt: Runtime) -> UserView:
        return await find_user(rt, await _environment(rt, org, env), identifier)

    view = _run(work)
    user = {k: v for k, v in asdict(view.user).items() if k != "password_hash"}
    user["has_password"] = view.user.password_hash is not None
    typer.echo(json.dumps({**user, "two_factor": asdict(view.two_factor)}, indent=2))


def user_reset_2fa(
    user: Annotated[str, typer.Argument(help="the user's id, email or username")],
    org: _Org,
    env: _Env = "production",
    application: Annotated[
        str | None, typer.Option(help="client_id; the default application when omitted")
    ] = None,
    reason: Annotated[str, typer.Option(help="why (required); kept in the audit event")] = "",
) -> None:
    """Remove the user's authenticator and recovery codes and end their sessions, so that
    they enroll again (a lost phone); audited with the reason, which is required."""
    from twostep.services.admin_recovery import admin_reset, clean_reason
    from twostep.services.runtime import Actor
    from twostep.services.user_admin import resolve_user_id

    async def work(rt: Runtime) -> str:
        clean_reason(reason)  # refused before anything is looked up
        environment = await _environment(rt, org, env)
        user_id = await resolve_user_id(rt, environment, user)
        await admin_reset(rt, Actor("cli"), environment, user_id, reason, client_id=application)
        return user_id

    typer.echo(f"second factor reset: {_run(work)}")


def user_bypass_code(
    user: Annotated[str, typer.Argument(help="the user's id, email or username")],
    org: _Org,
    env: _Env = "production",
    reason: Annotated[str, typer.Option(help="why (required); kept in the audit event")] = "",
) -> None:
    """Issue a one-time bypass code (shown once) that the user types at sign-in where a
    recovery code goes: valid TWOSTEP_BYPASS_TTL_S, then they enroll a new authenticator."""
    from twostep.services.admin_recovery import BypassCode, clean_reason, issue_bypass_code
    from twostep.services.runtime import Actor
    from twostep.services.user_admin import resolve_user_id

    async def work(rt: Runtime) -> BypassCode:
        clean_reason(reason)
        environment = await _environment(rt, org, env)
        user_id = await resolve_user_id(rt, environment, user)
        return await issue_bypass_code(rt, Actor("cli"), environment, user_id, reason)

    issued = _run(work)
    expires = datetime.fromtimestamp(issued.expires_at, tz=UTC).isoformat()
    typer.echo(f"bypass code: {issued.code} (valid until {expires}, once)")


def _moment(text: str | None, option: str) -> float | None:
    """An ISO 8601 date or date and time (UTC when no zone is given) as epoch seconds."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date: {text!r}", param_hint=option) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _open_output(output: Path | None) -> Any:
    if output is None:
        return sys.stdout
    # The trail holds addresses and identifiers of people: private to its owner.
    fd = os.open(output, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


@audit_app.command("export")
def audit_export(
    org: _Org,
    env: _Env = "production",
    fmt: Annotated[str, typer.Option("--format", help="ndjson or csv")] = "ndjson",
    since: Annotated[str | None, typer.Option(help="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601, exclusive")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. totp.verify")] = None,
    user: Annotated[str | None, typer.Option(help="a user id")] = None,
    output: Annotated[
        Path | None, typer.Option(help="a file (mode 0600); stdout if omitted")
    ] = None,
) -> None:
    """Write an environment's audit events, newest first, as NDJSON or CSV (with a header)."""
    from twostep.services.audit import export_audit
    from twostep.services.audit_export import export_lines
    from twostep.storage.repositories.audit import AuditFilter

    if fmt not in ("ndjson", "csv"):
        raise typer.BadParameter("ndjson or csv", param_hint="--format")
    where = AuditFilter(
        user_id=user,
        action=action,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
    )

    async def work(rt: Runtime) -> int:
        environment = await _environment(rt, org, env)
        count, out = -1 if fmt == "csv" else 0, _open_output(output)
        try:
            async for line in export_lines(export_audit(rt, environment, where), fmt):  # type: ignore[arg-type]
                out.write(line)
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
        return count

    count = _run(work)
    if output is not None:
        typer.echo(f"{count} events written to {output}", err=True)


def backup(
    output: Annotated[
        Path, typer.Option("--output", help="a directory outside the data directory")
    ],
) -> None:
    """Copy the database (SQLite's online backup, safe while serving) and the keyring into
    OUTPUT, both mode 0600. On PostgreSQL only the keyring is copied: use pg_dump."""
    from twostep.storage.backup import BackupRefused, copy_private, sqlite_backup, sqlite_path

    settings = Settings()
    target, data_dir = output.resolve(), settings.data_dir.resolve()
    if target == data_dir or data_dir in target.parents:
        typer.echo(f"refused: {output} is inside the data directory {data_dir}", err=True)
        raise typer.Exit(2)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    database = sqlite_path(settings.resolved_database_url)
    try:
        copy_private(settings.resolved_secrets_file, target / f"twostep-secrets-{stamp}.json")
        if database is not None:
            sqlite_backup(database, target / f"twostep-{stamp}.db")
    except (BackupRefused, OSError) as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"keyring: {target / f'twostep-secrets-{stamp}.json'}")
    if database is None:
        typer.echo("database: PostgreSQL; back it up with pg_dump (see docs/operations.md)")
    else:
        typer.echo(f"database: {target / f'twostep-{stamp}.db'}")
    typer.echo("keep the keyring apart from the database: together they open every secret")
