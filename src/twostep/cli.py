"""The ``twostep`` command: serve, check, migrate, demo, org, user, apikey, keys, code.

A failure it foresees is one line on standard error and an exit code of
``services.startup_errors.ExitCode``; a traceback only at ``TWOSTEP_LOG_LEVEL=debug``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

import twostep.cli_audit  # noqa: F401  (adds `audit verify` and `audit anchor`)
from twostep.cli_admin import (
    audit_app,
    backup,
    org_list,
    user_bypass_code,
    user_find,
    user_list,
    user_reset_2fa,
)
from twostep.cli_check import before_migrating, check, debugging, refuse, since_migrating
from twostep.cli_totp import totp_app
from twostep.otp import code_at, parse_key_uri
from twostep.settings import CONFIG_ENV, Settings

if TYPE_CHECKING:
    from twostep.errors import ValidationFailed
    from twostep.services.preflight import Check, CheckFn
    from twostep.services.runtime import Runtime

# The server's modules are imported inside the commands that need them, so that
# `twostep code` (an authenticator for scripts) starts in a fraction of a second.

__all__ = [
    "EnvOption",
    "apikey_app",
    "apikey_create",
    "apikey_list",
    "apikey_revoke",
    "app",
    "code",
    "demo",
    "keys_app",
    "keys_init",
    "keys_rotate",
    "keys_rotate_signing",
    "main",
    "migrate",
    "org_app",
    "org_create",
    "print_settings_reference",
    "serve",
    "user_app",
    "user_create",
]

app = typer.Typer(
    help="Twostep: a self-hosted TOTP authentication server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
keys_app = typer.Typer(
    help="The keys that encrypt TOTP secrets, and those that sign tokens.", no_args_is_help=True
)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(keys_app, name="keys")
app.add_typer(totp_app, name="totp")
app.add_typer(audit_app, name="audit")
# The admin tasks of `cli_admin`, each the twin of a management API route.
org_app.command("list")(org_list)
user_app.command("list")(user_list)
user_app.command("find")(user_find)
user_app.command("reset-2fa")(user_reset_2fa)
user_app.command("bypass-code")(user_bypass_code)
app.command("backup")(backup)
app.command("check")(check)

# Commands that read no settings, so a broken configuration does not stop them (`check`
# reports it as one of its lines).
_NO_SETTINGS = {"code", "settings-reference", "check"}


@app.callback()
def _global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar=CONFIG_ENV, help="a TOML settings file"),
    ] = None,
) -> None:
    """Twostep: a self-hosted TOTP authentication server."""
    if config is not None:
        # Through the environment, so that every server worker process reads the same file.
        os.environ[CONFIG_ENV] = str(config.resolve())
    if ctx.invoked_subcommand in _NO_SETTINGS:
        return
    try:
        Settings()
    except ValueError as exc:  # pydantic's ValidationError is one too
        from twostep.services.preflight import settings_failure

        refuse(settings_failure(exc), label="configuration")


T = TypeVar("T")
EnvOption = Annotated[str, typer.Option("--env", help="sandbox or production")]


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    from twostep.wiring import build_runtime

    async def run() -> T:
        runtime = build_runtime(Settings())
        try:
            return await work(runtime)
        finally:
            try:
                await runtime.http.aclose()
            finally:
                await runtime.db.dispose()

    return asyncio.run(run())


def _migrate(settings: Settings) -> None:
    """Upgrade the schema; a failure stops the command, naming the database or the schema."""
    from twostep.services.preflight import migration_failure
    from twostep.storage.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(upgrade(settings.resolved_database_url))
    except Exception as exc:
        refuse(migration_failure(exc, settings.resolved_database_url))


def _announce_admin_key(settings: Settings) -> None:
    from twostep.services.bootstrap import ensure_admin_key

    key = _with_runtime(ensure_admin_key)
    key_file = settings.data_dir / "admin-api-key"
    if key is not None:
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        typer.echo(
            f"Created a server-admin API key (shown once, also kept in {key_file}):\n  {key}"
        )
    elif settings.admin_api_key is not None:
        typer.echo("Server-admin API key: the value of TWOSTEP_ADMIN_API_KEY.")
    elif key_file.exists():
        typer.echo(f"Server-admin API key: in {key_file}.")


def _preflight(settings: Settings, checks: tuple[CheckFn, ...]) -> None:
    """Stop with the first failing check's line and exit code."""
    failed = _first_failure(settings, checks)
    if failed is not None:
        refuse(failed)


def _first_failure(settings: Settings, checks: tuple[CheckFn, ...]) -> Check | None:
    from twostep.cli_check import texts_loader
    from twostep.services.preflight import Subject, first_failure

    async def run() -> Check | None:
        async with Subject(settings, texts_loader()) as subject:
            return await first_failure(subject, checks)

    return asyncio.run(run())


def _start(settings: Settings, *, migrate_first: bool) -> socket.socket:
    """Check, bind the port, migrate, check again: the listening socket to serve on."""
    from twostep.services.listener import PortUnavailable, bind_listener
    from twostep.services.preflight import Check
    from twostep.services.startup_errors import ExitCode

    _preflight(settings, before_migrating())
    try:  # before migrating: a port that is taken changes nothing
        sock = bind_listener(settings.host, settings.port)
    except PortUnavailable as exc:
        refuse(Check("port", False, str(exc), ExitCode.PORT, exc))
    if migrate_first:
        _migrate(settings)
    else:
        _warn_if_behind(settings)
    _preflight(settings, since_migrating())
    return sock


def _warn_if_behind(settings: Settings) -> None:
    """Without migrating: no schema at all stops the start; one behind this release is only
    said (readiness answers 503 until `twostep migrate` has run, then the node is ready)."""
    from twostep.cli_check import texts_loader
    from twostep.services.preflight import Subject, check_schema

    async def run() -> tuple[bool, Check]:
        async with Subject(settings, texts_loader()) as subject:
            return (await subject.database()).revision is None, await check_schema(subject)

    empty, schema = asyncio.run(run())
    if schema.ok:
        return
    if empty:
        refuse(schema)
    typer.echo(f"schema: {schema.detail}; until then /readyz answers 503", err=True)


def _serve(settings: Settings, sock: socket.socket) -> None:
    """Serve on ``sock`` (bound and listening already) until stopped."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from twostep.services.metrics import multiprocess_dir
    from twostep.services.startup_errors import ExitCode

    config = uvicorn.Config(
        "twostep.web.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        log_level="warning",
        proxy_headers=False,
    )
    # Several workers share their metrics through files in a fresh directory (see there).
    with sock, multiprocess_dir(settings.workers):
        if settings.workers > 1:
            supervisor = Multiprocess(config, sockets=[sock])
            supervisor.run()
            # A worker that failed before serving stopped them all: say so in the exit code.
            started = all(p.exitcode != _UVICORN_STARTUP_FAILURE for p in supervisor.processes)
        else:
            server = uvicorn.Server(config)
            try:
                server.run(sockets=[sock])
            except SystemExit as exc:  # uvicorn's own exit when the app does not start
                started = exc.code in (0, None)
            else:
                started = True
    if not started:
        typer.echo("the server processes did not start (their log lines above say why)", err=True)
        raise typer.Exit(ExitCode.SERVER)


# uvicorn's exit code for a worker whose application did not start (uvicorn.server).
_UVICORN_STARTUP_FAILURE = 3


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the newest version."""
    from twostep.services.preflight import check_database

    settings = Settings()
    _preflight(settings, (check_database,))
    _migrate(settings)
    typer.echo("Database schema is up to date.")


@app.command()
def serve(
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Serve the HTTP API (settings: TWOSTEP_* variables, secrets directory, --config file)."""
    settings = Settings()
    sock = _start(settings, migrate_first=migrate_first)
    _announce_admin_key(settings)
    workers = f"{settings.workers} worker{'s' if settings.workers != 1 else ''}"
    typer.echo(f"Twostep listening on {settings.resolved_base_url} ({workers})")
    _serve(settings, sock)


@app.command()
def demo() -> None:
    """Migrate, create the demo organization and user if absent, print how to start, and serve."""
    from twostep.services import bootstrap

    settings = Settings()
    sock = _start(settings, migrate_first=True)
    _announce_admin_key(settings)
    setup = _with_runtime(bootstrap.ensure_demo)
    base = settings.resolved_base_url
    key_file = settings.data_dir / "admin-api-key"
    admin = "$TWOSTEP_ADMIN_API_KEY" if settings.admin_api_key else f"$(cat {key_file})"
    lines = [
        "",
        f"Twostep demo on {base}",
        f"  demo organization: {bootstrap.DEMO_DOMAIN}"
        + ("  (created now)" if setup.created else "  (already there)"),
        f"  sign in:           {base}/auth/login?org={bootstrap.DEMO_DOMAIN}",
        f"  demo user:         {bootstrap.DEMO_USER} / {bootstrap.DEMO_PASSWORD}",
        f"  admin console:     {base}/admin  (with a key from the demo org API keys file)",
        f"  API reference:     {base}/docs",
        "  trusted proxies:   "
        + (
            ", ".join(map(str, settings.trusted_proxies))
            if settings.trusted_proxies
            else "none: X-Forwarded-For is ignored (behind a reverse proxy, set "
            "TWOSTEP_TRUSTED_PROXIES to its CIDRs so that limits count end users' addresses)"
        ),
        "  walk-through (README), first line:",
        f"    ADMIN={admin}",
        "",
    ]
    if setup.created:
        demo_keys = settings.data_dir / "demo-api-keys"
        demo_keys.write_text("".join(f"{k}={v}\n" for k, v in setup.api_keys.items()))
        demo_keys.chmod(0o600)
        lines.insert(-1, f"  demo org API keys: in {demo_keys}")
    typer.echo("\n".join(lines))
    _serve(settings, sock)


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option()],
    domain: Annotated[str, typer.Option()],
    email_domain: Annotated[list[str] | None, typer.Option()] = None,
) -> None:
    """Create an organization and print its two API keys (shown once)."""
    from twostep.errors import ValidationFailed
    from twostep.services.organizations import create_organization
    from twostep.services.runtime import Actor

    async def work(rt: Runtime) -> dict[str, str]:
        created = await create_organization(
            rt, Actor("cli"), name=name, domain=domain, email_domains=email_domain or []
        )
        return created.api_keys

    try:  # the service checks the same identifier rules as POST /api/v1/organizations
        keys = _with_runtime(work)
    except ValidationFailed as exc:
        typer.echo(f"not a valid organization: {_field_errors(exc)}", err=True)
        raise typer.Exit(2) from exc
    for env, key in keys.items():
        typer.echo(f"{env}: {key}")


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option(help="organization domain")],
    email: Annotated[str | None, typer.Option()] = None,
    username: Annotated[str | None, typer.Option()] = None,
    env: EnvOption = "production",
    password: Annotated[
        str | None, typer.Option(help="or TWOSTEP_USER_PASSWORD", envvar="TWOSTEP_USER_PASSWORD")
    ] = None,
) -> None:
    """Create a user and print its id."""
    from twostep.errors import ValidationFailed
    from twostep.services.accounts import create_user
    from twostep.services.organizations import environment_for
    from twostep.services.runtime import Actor
    from twostep.storage.repositories.organizations import Principal

    async def work(rt: Runtime) -> str:
        environment = await environment_for(rt, Principal("cli", None), org, env)
        values = {"email": email, "username": username, "password": password}
        view = await create_user(
            rt, Actor("cli"), environment, {k: v for k, v in values.items() if v is not None}
        )
        return view.user.id

    try:
        typer.echo(_with_runtime(work))
    except ValidationFailed as exc:
        typer.echo(f"not a valid user: {_field_errors(exc)}", err=True)
        raise typer.Exit(2) from exc


def _field_errors(exc: ValidationFailed) -> str:
    """A refusal's field errors on one line, ``loc: msg; ...`` (its message when it has none)."""
    fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors)
    return fields or exc.msgid


@apikey_app.command("create")
def apikey_create(
    org: Annotated[
        str | None, typer.Option(help="organization domain; omit for an admin key")
    ] = None,
    env: EnvOption = "production",
    label: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Create an API key for an environment (or a server-admin key) and print it once."""
    from twostep.services.organizations import create_api_key
    from twostep.services.runtime import Actor

    async def work(rt: Runtime) -> str:
        return await create_api_key(rt, Actor("cli"), domain=org, environment=env, label=label)

    typer.echo(_with_runtime(work))


def _iso(epoch: float | None) -> str:
    from datetime import UTC, datetime

    return "-" if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat("T", "seconds")


@apikey_app.command("list")
def apikey_list(
    org: Annotated[str, typer.Option(help="organization domain")],
    env: EnvOption = "production",
) -> None:
    """List an environment's API keys (never their secrets): id, prefix, created, last used,
    revoked, name."""
    from twostep.services.organizations import environment_for, list_api_keys
    from twostep.storage.repositories.organizations import ApiKeyRecord, Principal

    async def work(rt: Runtime) -> list[ApiKeyRecord]:
        environment = await environment_for(rt, Principal("cli", None), org, env)
        return await list_api_keys(rt, environment)

    for key in _with_runtime(work):
        state = f"revoked {_iso(key.revoked_at)}" if key.revoked_at else "live"
        typer.echo(
            f"{key.id}  {key.prefix or '-':<14}  created {_iso(key.created_at)}  "
            f"used {_iso(key.last_used_at)}  {state}  {key.name}"
        )


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id, as `apikey list` shows it")],
    org: Annotated[str, typer.Option(help="organization domain")],
    env: EnvOption = "production",
) -> None:
    """Revoke an API key: running servers refuse it within 5 seconds."""
    from twostep.errors import NotFound
    from twostep.services.organizations import environment_for, revoke_api_key
    from twostep.services.runtime import Actor
    from twostep.storage.repositories.organizations import Principal

    async def work(rt: Runtime) -> None:
        environment = await environment_for(rt, Principal("cli", None), org, env)
        await revoke_api_key(rt, Actor("cli"), environment, key_id)

    try:
        _with_runtime(work)
    except NotFound as exc:
        typer.echo(f"no such key in {org} ({env}): {key_id}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked {key_id}")


@keys_app.command("init")
def keys_init(
    path: Annotated[
        Path | None, typer.Argument(help="the file to create; standard output without")
    ] = None,
) -> None:
    """Create a secrets file (encryption keys, recovery-code pepper) for nodes to share."""
    from twostep.crypto import Keyring

    if path is None:
        typer.echo(Keyring.generate().to_json())
        return
    if path.exists():
        typer.echo(f"{path} exists: refusing to replace the keys that open its secrets", err=True)
        raise typer.Exit(1)
    Keyring.load_or_create(path)
    typer.echo(f"created {path} (mode 0600)")


@keys_app.command("rotate")
def keys_rotate(
    retire: Annotated[
        bool, typer.Option(help="drop old keys once no secret is sealed under them")
    ] = False,
) -> None:
    """Seal every TOTP secret under a new key; running servers keep working throughout."""
    from twostep.services.keys import rotate_keys

    report = _with_runtime(lambda rt: rotate_keys(rt, retire=retire))
    typer.echo(f"new key {report.new_key_id}: {report.rewrapped} secrets rewrapped")
    if report.retired:
        typer.echo(f"retired: {', '.join(report.retired)}")
    ttl = Settings().journey_ttl_s
    for kept in report.kept:
        typer.echo(
            f"kept {kept.key_id}: still sealing {kept.secrets} secrets and "
            f"{kept.journeys} live journey session{'s' if kept.journeys != 1 else ''}; "
            f"journey sessions expire within TWOSTEP_JOURNEY_TTL_S ({ttl} s): "
            "run `twostep keys rotate --retire` again then"
        )


@keys_app.command("rotate-signing")
def keys_rotate_signing(
    publish_for: Annotated[
        int,
        typer.Option(help="seconds the old key stays in the JWKS (the longest token lifetime)"),
    ] = 86400,
) -> None:
    """Sign new tokens with a new key; the old one stays published until its tokens expired."""
    from twostep.oauth.keys import rotate_signing_keys

    kid = _with_runtime(lambda rt: rotate_signing_keys(rt, publish_for_s=publish_for))
    typer.echo(f"new signing key {kid}; the previous one is published for {publish_for} s more")


@app.command()
def code(
    uri: Annotated[str, typer.Argument(help="an otpauth:// key URI")],
    at: Annotated[float | None, typer.Option(help="Unix time (default: now)")] = None,
) -> None:
    """Print the current code of a key URI: an authenticator for scripts."""
    try:
        key = parse_key_uri(uri)
    except ValueError as exc:
        typer.echo(f"not a TOTP key URI: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(code_at(key.secret, key.params, time.time() if at is None else at))


@app.command("settings-reference")
def print_settings_reference() -> None:
    """Print the configuration reference (docs/configuration.md), generated from the settings."""
    from twostep.settings_reference import reference

    typer.echo(reference(), nl=False)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except Exception as exc:  # what no command foresaw: one line, a traceback only at debug
        from twostep.services.startup_errors import describe

        code, message = describe(exc, _database_url())
        typer.echo(message, err=True)
        if debugging():
            traceback.print_exception(exc)
        sys.exit(code)


def _database_url() -> str | None:
    """The database URL of the settings, if they load (to name the database in an error)."""
    try:
        return Settings().resolved_database_url
    except ValueError:
        return None


if __name__ == "__main__":
    main()
