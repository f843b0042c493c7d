"""A consistent copy of a SQLite database while the server writes to it, and of the keyring.

SQLite's online backup API copies page by page under its own locking, so the copy is a
database as of one moment even with writers running (a ``cp`` of a WAL database is not).
PostgreSQL has ``pg_dump`` for this; only the keyring is copied for it here.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["BackupRefused", "copy_private", "sqlite_backup", "sqlite_path"]


class BackupRefused(ValueError):
    """A backup that would not protect anything (e.g. written inside the data directory)."""


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for another engine (or an in-memory database)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _new_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600; refuse to overwrite anything."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def sqlite_backup(source: Path, target: Path) -> None:
    """Copy the database at ``source`` to the new file ``target`` (mode 0600)."""
    if not source.is_file():
        raise BackupRefused(f"no database at {source}")
    _new_private_file(target)
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def copy_private(source: Path, target: Path) -> None:
    """Copy ``source`` to the new file ``target`` with mode 0600 (a keyring is a secret)."""
    data = source.read_bytes()
    _new_private_file(target)
    with target.open("wb") as out:
        out.write(data)
