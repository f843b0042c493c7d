"""The keyring check: the file is there (or not needed yet), 0600, well formed, and its keys
open the secrets the database holds sealed (a keyring of another deployment does not)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from twostep.crypto import Keyring, SecretBox, SecretBoxError
from twostep.services.preflight import CONNECT_TIMEOUT_S, Check, Subject, schema_is_current
from twostep.services.startup_errors import ExitCode
from twostep.storage.repositories import authenticators
from twostep.storage.repositories import oauth as oauth_repo

__all__ = ["check_secrets"]


async def check_secrets(subject: Subject) -> Check:
    path = subject.settings.resolved_secrets_file
    read = _read_keyring(path)
    if isinstance(read, Check):
        return read
    if read is None:
        return await _keyring_to_create(subject, path)
    keyring, found = read
    probed = await _open_a_sealed_secret(subject, keyring, path)
    if probed is None:
        return Check(
            "secrets", True, f"{found}; not tried on the database (no schema, or no answer)"
        )
    ok, detail = probed
    return Check("secrets", ok, f"{found}; {detail}" if ok else detail, ExitCode.SECRETS)


def _read_keyring(path: Path) -> tuple[Keyring, str] | Check | None:
    """The keyring and what was found of its file; a failed Check; None when there is none."""
    if not os.path.lexists(path):
        return None
    problem = _file_problem(path)
    if problem is not None:
        return Check("secrets", False, problem, ExitCode.SECRETS)
    try:
        keyring = Keyring.load(path)
    except SecretBoxError as exc:
        return Check("secrets", False, _malformed(exc, path), ExitCode.SECRETS, exc)
    keys = f"{len(keyring.keys)} key{'s' if len(keyring.keys) != 1 else ''}"
    return keyring, f"{path}: {_mode_note(path)}, {keys}, primary {keyring.primary}"


def _malformed(exc: SecretBoxError, path: Path) -> str:
    text = str(exc).removeprefix("keyring: ")
    return text if str(path) in text else f"{path}: {text}"


async def _keyring_to_create(subject: Subject, path: Path) -> Check:
    if await _usable(subject):
        sealed = await _sealed_samples(subject, primary=None)
        if sealed:
            detail = (
                f"{path} is missing, but the database holds secrets sealed under key "
                f"{sealed[0][1]}: restore the keyring from its backup (a new one opens nothing)"
            )
            return Check("secrets", False, detail, ExitCode.SECRETS)
    detail = f"{path} does not exist yet: the first start creates it (mode 0600); back it up then"
    return Check("secrets", True, detail)


def _file_problem(path: Path) -> str | None:
    """Why the keyring file cannot be used as it is, or None."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if not os.access(path, os.R_OK):
        return f"{path} cannot be read by this user (uid {os.geteuid()}): check its owner and mode"
    mode = stat.S_IMODE(info.st_mode)
    # A file of ours can be 0600, so anything wider is a mistake. One owned by another user is
    # a secret mounted for us (a read-only Compose secret): we read it through the mode bits.
    if mode & 0o077 and info.st_uid == os.geteuid():
        return f"{path} has mode {mode:04o}: other users can read it; run `chmod 600 {path}`"
    return None


def _mode_note(path: Path) -> str:
    info = path.stat()
    mode = f"mode {stat.S_IMODE(info.st_mode):04o}"
    if info.st_uid == os.geteuid():
        return mode
    return f"{mode}, owned by uid {info.st_uid} (a mounted secret: keep its directory closed)"


async def _usable(subject: Subject) -> bool:
    return schema_is_current(await subject.database())


async def _open_a_sealed_secret(
    subject: Subject, keyring: Keyring, path: Path
) -> tuple[bool, str] | None:
    """Open a TOTP secret and a signing key the database holds (one under the primary key, one
    under an older key if any): (False, why) when the keyring cannot; None without a schema."""
    if not await _usable(subject):
        return None
    samples = await _sealed_samples(subject, primary=keyring.primary)
    if not samples:
        return True, "the database holds no sealed secret yet"
    box = SecretBox(keyring)
    for row_id, key_id, blob in samples:
        if key_id not in keyring.keys:
            return False, (
                f"the database holds secrets sealed under key {key_id}, which {path} lacks: "
                "is this the keyring of this database? (restore the right one from its backup)"
            )
        try:
            box.decrypt(key_id, blob, aad=row_id.encode())
        except SecretBoxError:
            return False, f"key {key_id} of {path} does not open the database's secrets"
    return True, "opens the secrets the database holds"


async def _sealed_samples(subject: Subject, primary: str | None) -> list[tuple[str, str, bytes]]:
    """A few sealed rows: any secret, one not under ``primary``, any signing key."""

    async def read() -> list[tuple[str, str, bytes]]:
        async with subject.db().transaction() as tx:
            rows = await authenticators.sealed_not_under(tx, "", limit=1)
            if primary is not None:
                rows += await authenticators.sealed_not_under(tx, primary, limit=1)
            rows += await oauth_repo.signing_keys_sealed_not_under(tx, "", limit=1)
        return rows

    return await asyncio.wait_for(read(), CONNECT_TIMEOUT_S)
