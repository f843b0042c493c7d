"""``twostep check``: what ``twostep serve`` would find, one line per check, before it serves.

The checks themselves are in ``services.preflight`` (and ``services.keyring_check``); this
module says which the command runs, which ``serve`` needs, and how a failure is shown: one
line, its exit code, a traceback only at ``TWOSTEP_LOG_LEVEL=debug``.
"""

from __future__ import annotations

import asyncio
import json
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from twostep.settings import Settings

if TYPE_CHECKING:
    from twostep.services.preflight import Check, CheckFn, TextsLoader

# The checks import the database layer: imported when a command needs them, so that other
# commands (`twostep code`) start as fast as before.

__all__ = [
    "before_migrating",
    "check",
    "checks",
    "debugging",
    "refuse",
    "since_migrating",
    "texts_loader",
]


def checks() -> tuple[CheckFn, ...]:
    """Every check of `twostep check`, in the order printed. One more is one more line here."""
    from twostep.services import preflight as p
    from twostep.services.clock_skew import skew_check
    from twostep.services.keyring_check import check_secrets

    return (
        p.check_database,
        p.check_schema,
        p.measured("clock_skew", skew_check),
        check_secrets,
        p.check_translations,
        p.check_webhook_networks,
        p.check_port,
    )


def before_migrating() -> tuple[CheckFn, ...]:
    """What `serve` makes sure of before it touches the database (then it binds the port)."""
    from twostep.services import preflight as p

    return (p.check_translations, p.check_database)


def since_migrating() -> tuple[CheckFn, ...]:
    """What `serve` makes sure of once it has migrated. (With --no-migrate a schema behind is
    only said: readiness answers 503 until `twostep migrate` has run.)"""
    from twostep.services.keyring_check import check_secrets

    return (check_secrets,)


def texts_loader() -> TextsLoader:
    """Reads override files as the web app does, with the names operators give texts."""
    from twostep.i18n import load_overrides
    from twostep.web.texts import ALIASES, mib_tag

    def load(directory: Path) -> object:
        return load_overrides(directory, ALIASES, tolerated=mib_tag)

    return load


def check(
    as_json: Annotated[
        bool, typer.Option("--json", help='one JSON object: {"ok": ..., "checks": [...]}')
    ] = False,
) -> None:
    """Check the settings, database, schema, clock, keyring, translations, webhook networks and
    port as `serve` would find them; exits non-zero (the first failure's code) if any fails."""
    from twostep.services.preflight import load_settings

    first, settings = load_settings()
    checks = [first] if settings is None else [first, *asyncio.run(_run(settings))]
    if as_json:
        summary = {"ok": all(c.ok for c in checks), "checks": [c.as_json() for c in checks]}
        typer.echo(json.dumps(summary))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            typer.echo(f"{'OK' if c.ok else 'FAIL':<4}  {c.name:<{width}}  {c.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        if debugging():
            for c in failed:
                _print_cause(c)
        raise typer.Exit(failed[0].failure)


async def _run(settings: Settings) -> list[Check]:
    from twostep.services.preflight import Subject, run_checks

    async with Subject(settings, texts_loader()) as subject:
        return await run_checks(subject, checks())


def refuse(failed: Check, label: str | None = None) -> NoReturn:
    """Stop the command on a failed check: one line on standard error, then its exit code."""
    typer.echo(f"{label or failed.name}: {failed.detail}", err=True)
    if debugging():
        _print_cause(failed)
    raise typer.Exit(failed.failure)


def _print_cause(failed: Check) -> None:
    if failed.cause is not None:
        traceback.print_exception(failed.cause)


def debugging() -> bool:
    """Whether TWOSTEP_LOG_LEVEL is debug (from wherever settings come, if they load)."""
    try:
        level = Settings().log_level
    except ValueError:  # settings that do not load: the environment says it, or nothing does
        level = os.environ.get("TWOSTEP_LOG_LEVEL", "")
    return level.strip().lower() == "debug"
