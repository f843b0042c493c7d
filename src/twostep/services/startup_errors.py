"""What stops Twostep from starting, in words an operator acts on, and the exit code of each.

``ExitCode`` is the one list of the ``twostep`` command's exit codes (docs/operations.md
prints it as a table). The functions below turn the exceptions a start meets (a setting
pydantic refuses, a database that does not answer) into one line each: which setting and what
it accepts, which host and port; never a password, never a traceback (the command prints one
only at ``TWOSTEP_LOG_LEVEL=debug``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from enum import IntEnum
from pathlib import Path
from typing import Any, get_args

from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from twostep.crypto import SecretBoxError
from twostep.logs import REDACTED, redact
from twostep.settings import CONFIG_ENV, SECRETS_DIR_ENV, Settings
from twostep.settings_reference import kind

__all__ = [
    "ExitCode",
    "database_error",
    "database_failed",
    "database_name",
    "describe",
    "settings_problems",
]


class ExitCode(IntEnum):
    """Why ``twostep`` stopped; 0 is success. Each start-up failure class has its own code."""

    OK = 0
    FAILED = 1  # a refusal the command explains (no such key...), or an unforeseen error
    CONFIGURATION = 2  # a setting (or a command's argument) is wrong
    DATABASE = 3  # the database does not answer, or its URL cannot be used
    SCHEMA = 4  # the database schema is behind this release: run `twostep migrate`
    SECRETS = 5  # the keyring is missing, unreadable, readable by others or malformed
    TRANSLATIONS = 6  # a file of TWOSTEP_TRANSLATIONS_DIR is refused
    PORT = 7  # the address and port cannot be listened on (taken, privileged, not ours)
    CHECK_FAILED = 8  # another check of `twostep check` failed
    SERVER = 9  # the checks passed but the server processes did not start


# -- settings ----------------------------------------------------------------------------------

_PHRASES = {
    "int_parsing": "is not an integer",
    "int_type": "is not an integer",
    "int_from_float": "is not an integer",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "finite_number": "is not a finite number",
    "bool_parsing": "is not true or false",
    "bool_type": "is not true or false",
    "greater_than": "is out of range",
    "greater_than_equal": "is out of range",
    "less_than": "is out of range",
    "less_than_equal": "is out of range",
    "missing": "is missing",
}


def settings_problems(exc: ValidationError, settings_cls: type[Settings] = Settings) -> list[str]:
    """One line per refused setting: where the value came from, the value (unless secret),
    what is wrong and what the setting accepts, e.g.
    ``TWOSTEP_PORT: 'abc' is not an integer (accepts: integer, 1–65535)``."""
    lines = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        field = settings_cls.model_fields.get(name)
        if field is None:
            lines.append(f"{_origin(name)}: {error['msg']}")
            continue
        shown = "" if _is_secret(name, field.annotation) else f"{_shown(error['input'])} "
        lines.append(f"{_origin(name)}: {shown}{_phrase(error)} (accepts: {kind(field)})")
    return lines


def _phrase(error: ErrorDetails) -> str:
    if error["type"] in _PHRASES:
        return _PHRASES[error["type"]]
    cause = (error.get("ctx") or {}).get("error")
    if cause is not None:  # a validator's own ValueError (a CIDR that is not one...)
        return f"is refused: {cause}"
    return "is refused: " + error["msg"]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_secret(name: str, annotation: Any) -> bool:
    # A secret type, the database URL (its password), and text the logs would redact by its
    # name; a number is never a secret, whatever its name.
    if annotation is SecretStr or SecretStr in get_args(annotation) or name == "database_url":
        return True
    textual = annotation is str or str in get_args(annotation)
    return textual and redact(None, "", {name: ""})[name] == REDACTED


def _origin(name: str) -> str:
    """Where the value of ``name`` came from, in the order the settings' sources are read."""
    variable = f"TWOSTEP_{name.upper()}"
    if any(key.upper() == variable for key in os.environ):
        return variable
    secrets_dir = os.environ.get(SECRETS_DIR_ENV)
    if secrets_dir and (Path(secrets_dir) / f"twostep_{name}").is_file():
        return f"{Path(secrets_dir) / f'twostep_{name}'}"
    if config := os.environ.get(CONFIG_ENV):
        return f"{name} in {config}"
    return variable


# -- the database ------------------------------------------------------------------------------


def database_name(url: str) -> str:
    """The database in words, without its password: ``PostgreSQL db.internal:5432/twostep``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "the database of TWOSTEP_DATABASE_URL"
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database}"
    backend = {"postgresql": "PostgreSQL"}.get(parsed.get_backend_name(), parsed.get_backend_name())
    user = f" as {parsed.username}" if parsed.username else ""
    return f"{backend} {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}{user}"


def database_error(exc: BaseException, url: str) -> str:
    """Why the database at ``url`` cannot be used, naming where it is and never its password."""
    where = database_name(url)
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"TWOSTEP_DATABASE_URL is not a database URL Twostep can use: {_scrub(exc, url)}"
    if isinstance(exc, TimeoutError):
        return f"cannot reach {where}: no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach {where}: connection refused (is the server running?)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot reach {where}: {exc.strerror}"
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(original, sqlite3.Error):
        return f"cannot open {where}: {original}"
    return f"cannot use {where}: {_scrub(original, url)}"


def _scrub(exc: BaseException, url: str) -> str:
    """The exception's first line, with the URL's password blanked wherever it appears."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    password = _password(url)
    return text.replace(password, "***") if password else text


def _password(url: str) -> str | None:
    try:
        parsed: URL = make_url(url)
    except ArgumentError:
        return None
    return parsed.password if isinstance(parsed.password, str) and parsed.password else None


# -- anything else -----------------------------------------------------------------------------


def describe(exc: BaseException, database_url: str | None) -> tuple[ExitCode, str]:
    """An exception that escaped a command, as an exit code and one line for the operator."""
    if isinstance(exc, ValidationError):
        return ExitCode.CONFIGURATION, "configuration: " + "; ".join(settings_problems(exc))
    if isinstance(exc, SecretBoxError):
        return ExitCode.SECRETS, f"secrets: {exc}"
    if database_url is not None and database_failed(exc):
        return ExitCode.DATABASE, f"database: {database_error(exc, database_url)}"
    text = _scrub(exc, database_url) if database_url else str(exc)
    return ExitCode.FAILED, f"error: {type(exc).__name__}: {text}"


def database_failed(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or used (not a bug of ours)."""
    if isinstance(exc, DBAPIError | ArgumentError | NoSuchModuleError):
        return True
    if isinstance(exc, ConnectionError | socket.gaierror | TimeoutError):
        return True
    return type(exc).__module__.startswith("asyncpg")
