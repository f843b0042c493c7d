"""The checks a start depends on, each a name, a verdict and a detail an operator acts on.

``twostep check`` runs them all and prints one line each; ``twostep serve`` runs those a
start needs and stops at the first failure, with its exit code. A check never raises: what
goes wrong becomes its detail (the exception is kept as ``cause``, for a debug traceback).
A check is an async function of the ``Subject`` (the keyring's is in ``keyring_check``); a
``(settings, database) -> (ok, detail)`` measurement becomes one through ``measured``. The
command lists the checks it runs, so one more check is one more line there.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError
from sqlalchemy import make_url

from twostep.services.listener import PortUnavailable, bind_listener, where
from twostep.services.startup_errors import (
    ExitCode,
    database_error,
    database_failed,
    database_name,
    settings_problems,
)
from twostep.settings import CONFIG_ENV, SECRETS_DIR_ENV, Network, Settings
from twostep.storage import Database
from twostep.storage.db import is_sqlite
from twostep.storage.migrate import current_revision, head_revision

__all__ = [
    "CONNECT_TIMEOUT_S",
    "Check",
    "CheckFn",
    "DatabaseState",
    "Subject",
    "TextsLoader",
    "check_database",
    "check_port",
    "check_schema",
    "check_translations",
    "check_webhook_networks",
    "first_failure",
    "load_settings",
    "measured",
    "migration_failure",
    "run_checks",
    "schema_is_current",
    "settings_failure",
]

# A database that does not answer within this is reported, not waited for (asyncpg alone
# would wait a minute for a host that drops packets).
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``twostep check``; ``failure`` is the exit code when it is not ok."""

    name: str
    ok: bool
    detail: str
    failure: ExitCode = ExitCode.CHECK_FAILED
    cause: BaseException | None = field(default=None, compare=False, repr=False)

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """What one connection learned: whether it exists, its schema revision, or the error."""

    exists: bool
    revision: str | None = None
    error: BaseException | None = None


# Reads the override files of a translations directory; ValueError names file and key. The
# web edge owns the names operators give texts, so the command passes its reader in.
TextsLoader = Callable[[Path], object]


class Subject:
    """What the checks look at: the settings, and the database, connected to once.

    ``async with`` it, so that the database handle some checks share is closed afterwards.
    """

    def __init__(self, settings: Settings, load_texts: TextsLoader) -> None:
        self.settings = settings
        self.load_texts = load_texts
        self._state: DatabaseState | None = None
        self._db: Database | None = None

    async def __aenter__(self) -> Subject:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._db is not None:
            await self._db.dispose()

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url

    async def database(self) -> DatabaseState:
        """Connect (at most ``CONNECT_TIMEOUT_S``) and read the schema revision, once."""
        if self._state is None:
            self._state = await _probe(self.database_url)
        return self._state

    def db(self) -> Database:
        """The application's own database handle, for checks that run queries."""
        if self._db is None:
            self._db = Database(self.database_url, pool_size=1)
        return self._db


CheckFn = Callable[[Subject], Awaitable[Check]]


async def _probe(url: str) -> DatabaseState:
    try:
        if _sqlite_file_missing(url):
            return DatabaseState(exists=False)  # a check must not create it
        revision = await asyncio.wait_for(current_revision(url), CONNECT_TIMEOUT_S)
    except Exception as exc:  # whatever it is, it is this check's verdict
        return DatabaseState(exists=True, error=exc)
    return DatabaseState(exists=True, revision=revision)


def _sqlite_file_missing(url: str) -> bool:
    return is_sqlite(url) and not Path(make_url(url).database or "").exists()


def schema_is_current(state: DatabaseState) -> bool:
    """Whether the database answered with the schema of this release (queries may run)."""
    return state.error is None and state.exists and state.revision == head_revision()


# -- settings ----------------------------------------------------------------------------------


def load_settings() -> tuple[Check, Settings | None]:
    """The settings as ``serve`` reads them (environment, secrets directory, TOML file)."""
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError is one too
        return settings_failure(exc), None
    sources = ["the environment"]
    sources += [os.environ[name] for name in (SECRETS_DIR_ENV, CONFIG_ENV) if name in os.environ]
    workers = f"{settings.workers} worker{'s' if settings.workers != 1 else ''}"
    detail = f"read from {', '.join(sources)}; {settings.resolved_base_url}, {workers}"
    return Check("settings", True, detail), settings


def settings_failure(exc: ValueError) -> Check:
    """Why the settings do not load: each refused setting, a TOML file that is not TOML, a
    missing file or directory, a key that names no setting."""
    if isinstance(exc, ValidationError):
        detail = "; ".join(settings_problems(exc))
    elif isinstance(exc, tomllib.TOMLDecodeError):
        detail = f"{os.environ.get(CONFIG_ENV)}: not valid TOML: {exc}"
    else:
        detail = str(exc)
    return Check("settings", False, detail, ExitCode.CONFIGURATION, exc)


# -- the database ------------------------------------------------------------------------------


async def check_database(subject: Subject) -> Check:
    url = subject.database_url
    state = await subject.database()
    if state.error is not None:
        detail = database_error(state.error, url)
        return Check("database", False, detail, ExitCode.DATABASE, state.error)
    if not state.exists:
        return _sqlite_to_create(url)
    return Check("database", True, f"{database_name(url)} answers")


def _sqlite_to_create(url: str) -> Check:
    """A SQLite file that does not exist yet: fine if its directory can be made and written."""
    path = Path(make_url(url).database or "")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        detail = f"SQLite {path} cannot be created: {parent} is not a directory"
        return Check("database", False, detail, ExitCode.DATABASE)
    if not os.access(parent, os.W_OK | os.X_OK):
        detail = f"SQLite {path} cannot be created: {parent} is not writable by this user"
        return Check("database", False, detail, ExitCode.DATABASE)
    return Check("database", True, f"SQLite {path} does not exist yet: `twostep migrate` makes it")


async def check_schema(subject: Subject) -> Check:
    state = await subject.database()
    head = head_revision()
    if state.error is not None:
        return Check("schema", False, "not read: the database does not answer", ExitCode.SCHEMA)
    if state.revision == head:
        return Check("schema", True, f"at revision {head}, the newest of this release")
    found = "no schema yet" if state.revision is None else f"at revision {state.revision}"
    detail = f"{found}, this release needs {head}: run `twostep migrate`"
    return Check("schema", False, detail, ExitCode.SCHEMA)


def migration_failure(exc: Exception, url: str) -> Check:
    """Why ``twostep migrate`` (or a migrating start) could not upgrade the schema: the
    database went away, or its schema is one this release does not know (a newer one's)."""
    if database_failed(exc):
        return Check("database", False, database_error(exc, url), ExitCode.DATABASE, exc)
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    detail = f"{database_name(url)} cannot be upgraded to {head_revision()}: {reason}"
    return Check("schema", False, detail, ExitCode.SCHEMA, exc)


def measured(
    name: str, measure: Callable[[Settings, Database], Awaitable[tuple[bool, str]]]
) -> CheckFn:
    """A check made of a measurement against the database (skipped when it does not answer)."""

    async def run(subject: Subject) -> Check:
        state = await subject.database()
        if state.error is not None or state.revision is None:
            return Check(name, False, "not checked: the database does not answer, or is empty")
        ok, detail = await measure(subject.settings, subject.db())
        return Check(name, ok, detail)

    run.__name__ = f"check_{name}"
    return run


# -- texts, webhooks, the port -----------------------------------------------------------------


async def check_translations(subject: Subject) -> Check:
    directory = subject.settings.translations_dir
    if directory is None:
        return Check("translations", True, "none: pages speak the built-in texts")
    try:
        subject.load_texts(directory)
    except ValueError as exc:  # it names the file and the key
        return Check("translations", False, str(exc), ExitCode.TRANSLATIONS, exc)
    return Check("translations", True, f"{directory}: every override file is accepted")


async def check_webhook_networks(subject: Subject) -> Check:
    """What TWOSTEP_WEBHOOK_ALLOWED_NETWORKS lets webhooks reach beyond public https; a
    warning, never a failure, when that is more than internal receivers."""
    networks = subject.settings.webhook_allowed_networks
    if not networks:
        return Check("webhook_networks", True, "none: webhooks reach public addresses over https")
    admitted = ", ".join(f"{network} ({_scope(network)})" for network in networks)
    detail = f"admitted over http and https: {admitted}"
    if any(network.prefixlen == 0 for network in networks):
        detail += "; warning: every address is admitted, internal ones are not protected"
    elif any(_scope(network) != "internal" for network in networks):
        detail += "; warning: public addresses are admitted over plain http too"
    return Check("webhook_networks", True, detail)


def _scope(network: Network) -> str:
    if network.prefixlen == 0:
        return "every address"
    if network.is_loopback or network.is_private or network.is_link_local:
        return "internal"
    return "public" if network.is_global else "partly public"


async def check_port(subject: Subject) -> Check:
    host, port = subject.settings.host, subject.settings.port
    try:
        bind_listener(host, port).close()
    except PortUnavailable as exc:
        return Check("port", False, str(exc), ExitCode.PORT, exc)
    return Check("port", True, f"{where(host, port)} is free")


async def run_checks(subject: Subject, checks: Sequence[CheckFn]) -> list[Check]:
    """Every check, in order; one that raises is reported failed, not propagated."""
    return [await _guarded(check, subject) for check in checks]


async def first_failure(subject: Subject, checks: Sequence[CheckFn]) -> Check | None:
    """The first check that fails, or None; the later ones are not run."""
    for check in checks:
        result = await _guarded(check, subject)
        if not result.ok:
            return result
    return None


async def _guarded(check: CheckFn, subject: Subject) -> Check:
    try:
        return await check(subject)
    except Exception as exc:  # a check is a report: its own failure is one more finding
        name = check.__name__.removeprefix("check_")
        detail = f"could not be checked: {type(exc).__name__}: {exc}"
        return Check(name, False, detail, cause=exc)
