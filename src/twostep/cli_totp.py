"""``twostep totp import|export``: authenticators in from other systems, and out to them.

The work is ``services.transfer``'s; this module reads and writes the files and the terminal.
A secret is never printed: the lines say who, what and why.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar, cast

import typer

from twostep.settings import Settings

if TYPE_CHECKING:
    from twostep.services.key_files import Entry, FileFormat
    from twostep.services.pskc_files import ExportedKey
    from twostep.services.runtime import Runtime
    from twostep.services.transfer import ImportResult

__all__ = ["MIN_PASSPHRASE", "totp_app", "totp_export", "totp_import"]

totp_app = typer.Typer(help="Authenticators: import and export of TOTP keys.", no_args_is_help=True)
MIN_PASSPHRASE = 12
_FORMATS = ("otpauth", "csv", "pskc", "migration")
T = TypeVar("T")


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    # `twostep.cli` imports this module to register its commands: its runner is read late.
    from twostep import cli

    return cli._with_runtime(work)


def _passphrase(path: Path | None, env_name: str, *, confirm: bool) -> str | None:
    """From ``--passphrase-file`` (first line), else the environment, else a prompt."""
    if path is not None:
        lines = path.read_text().splitlines()
        return lines[0] if lines else ""
    if os.environ.get(env_name):
        return os.environ[env_name]
    if not os.isatty(0):
        return None
    text: str = typer.prompt(
        "PSKC passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return text


@totp_app.command("import")
def totp_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the file to read")],
    org: Annotated[str, typer.Option(help="organization domain")],
    env: Annotated[str, typer.Option("--env", help="sandbox or production")] = "production",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="otpauth, csv, pskc or migration (default: guessed)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print, write nothing")] = False,
    replace: Annotated[bool, typer.Option(help="overwrite active authenticators")] = False,
    application: Annotated[str | None, typer.Option(help="client_id (default app)")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(help="of an encrypted PSKC")] = None,
) -> None:
    """Import TOTP keys, matching users by email or username; exit 1 if any was refused."""
    from twostep.services.transfer import read_key_file

    if fmt is not None and fmt not in _FORMATS:
        typer.echo(f"--format must be one of {', '.join(_FORMATS)}", err=True)
        raise typer.Exit(2)
    data = file.read_bytes()
    passphrase = None
    if b"EncryptionKey" in data[:65536]:
        passphrase = _passphrase(passphrase_file, "TWOSTEP_IMPORT_PASSPHRASE", confirm=False)
    try:
        entries = read_key_file(data, cast("FileFormat | None", fmt), passphrase)
    except ValueError as exc:
        typer.echo(f"cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    results = _run_import(entries, org, env, application, replace=replace, dry_run=dry_run)
    for result in results:
        typer.echo(f"{result.action:<8} {result.account or '?'}  ({result.where}: {result.reason})")
    counts = Counter(result.action for result in results)
    summary = ", ".join(f"{counts[a]} {a}" for a in ("create", "replace", "skip", "refuse"))
    typer.echo(f"dry run, nothing written: {summary}" if dry_run else f"imported: {summary}")
    if counts["refuse"]:
        raise typer.Exit(1)


def _run_import(
    entries: list[Entry], org: str, env: str, application: str | None, **flags: bool
) -> list[ImportResult]:
    from twostep.services.organizations import environment_for
    from twostep.services.runtime import Actor
    from twostep.services.transfer import import_keys
    from twostep.storage.repositories.organizations import Principal

    async def work(rt: Runtime) -> list[ImportResult]:
        environment = await environment_for(rt, Principal("cli", None), org, env)
        return await import_keys(
            rt,
            Actor("cli"),
            environment,
            entries,
            client_id=application,
            replace=flags["replace"],
            dry_run=flags["dry_run"],
        )

    return _with_runtime(work)


def _check_output(path: Path, *, force: bool) -> None:
    """Refuse the data directory (an export beside the keys that seal it defeats both) and,
    without ``--force``, an existing file."""
    data_dir = Settings().data_dir.resolve()
    target = path.resolve()
    if target == data_dir or data_dir in target.parents:
        typer.echo(f"refusing to write into the data directory {data_dir}", err=True)
        raise typer.Exit(2)
    if target.exists() and not force:
        typer.echo(f"{path} exists: pass --force to overwrite it", err=True)
        raise typer.Exit(2)


@totp_app.command("export")
def totp_export(
    org: Annotated[str, typer.Option(help="organization domain")],
    output: Annotated[Path, typer.Option(help="the file to write (not under the data dir)")],
    env: Annotated[str, typer.Option("--env", help="sandbox or production")] = "production",
    fmt: Annotated[str, typer.Option("--format", help="pskc (encrypted) or otpauth")] = "pskc",
    application: Annotated[str | None, typer.Option(help="client_id (default app)")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(help="first line: passphrase")] = None,
    plaintext: Annotated[
        bool, typer.Option("--i-understand-plaintext", help="needed for otpauth lines")
    ] = False,
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write the active authenticators' keys: PSKC encrypted with a passphrase, or otpauth lines."""
    from twostep.services.transfer import write_key_file

    if fmt not in ("pskc", "otpauth"):
        typer.echo("--format must be pskc or otpauth", err=True)
        raise typer.Exit(2)
    if fmt == "otpauth" and not plaintext:
        typer.echo(
            "otpauth lines carry the secrets in clear: add --i-understand-plaintext", err=True
        )
        raise typer.Exit(2)
    _check_output(output, force=force)
    passphrase = ""
    if fmt == "pskc":
        passphrase = _passphrase(passphrase_file, "TWOSTEP_EXPORT_PASSPHRASE", confirm=True) or ""
        if len(passphrase) < MIN_PASSPHRASE:
            typer.echo(f"the passphrase needs at least {MIN_PASSPHRASE} characters", err=True)
            raise typer.Exit(2)
    keys = _run_export(org, env, application)
    data = write_key_file(keys, "pskc" if fmt == "pskc" else "otpauth", passphrase)
    _write_private(output, data, force=force)
    typer.echo(f"exported {len(keys)} authenticators to {output} ({fmt})")


def _run_export(org: str, env: str, application: str | None) -> list[ExportedKey]:
    from twostep.services.organizations import environment_for
    from twostep.services.runtime import Actor
    from twostep.services.transfer import export_keys
    from twostep.storage.repositories.organizations import Principal

    async def work(rt: Runtime) -> list[ExportedKey]:
        environment = await environment_for(rt, Principal("cli", None), org, env)
        return await export_keys(rt, Actor("cli"), environment, client_id=application)

    return _with_runtime(work)


def _write_private(path: Path, data: bytes, *, force: bool) -> None:
    """Only the owner may read the file; created exclusively unless ``force``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)
