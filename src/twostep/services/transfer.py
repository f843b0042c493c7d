"""Moving authenticators in and out: keys from another system become active authenticators
without re-enrollment, and an application's keys leave as a file (``key_files``, ``pskc_files``).

Imported authenticators are active at once, whatever ``confirm_enrollment`` says: the user
already holds the key in their app and proved it to the old system, and a pending
authenticator would not protect a single sign-in until they confirmed it. They get no
recovery codes (nobody would see them); users create theirs as they would after losing a set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twostep.errors import TotpAlreadyEnrolled
from twostep.otp import Algorithm, KeyUri, TotpParams, build_key_uri
from twostep.services.accounts import require_application, require_user
from twostep.services.audit import audit
from twostep.services.enrollment import account_label, authenticator_row
from twostep.services.key_files import (
    Entry,
    FileFormat,
    ImportedKey,
    Unreadable,
    guess_format,
    read_csv,
    read_uri_lines,
)
from twostep.services.organizations import fresh_environment
from twostep.services.pskc_files import ExportedKey, read_pskc, write_pskc
from twostep.services.revocation import end_all_sessions
from twostep.services.runtime import Actor, Runtime, ensure_totp_enabled
from twostep.services.verification import params_of, secret_of
from twostep.storage import Tx
from twostep.storage.repositories import authenticators as repo
from twostep.storage.repositories.applications import ApplicationRecord
from twostep.storage.repositories.authenticators import AuthenticatorRecord
from twostep.storage.repositories.key_exports import sealed_active_keys
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord, find_user_by_identifier
from twostep.storage.tables import new_id

__all__ = [
    "ImportAction",
    "ImportResult",
    "export_keys",
    "import_key",
    "import_keys",
    "read_key_file",
    "write_key_file",
]

ImportAction = Literal["create", "replace", "skip", "refuse"]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What became (or, in a dry run, would become) of one entry of a file, and why."""

    where: str
    account: str | None
    action: ImportAction
    reason: str


@dataclass(frozen=True, slots=True)
class _Target:
    """Where imported keys go: the environment, its application, and the session's choices."""

    env: EnvironmentRecord
    app: ApplicationRecord
    replace: bool
    dry_run: bool


async def import_keys(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    entries: list[Entry],
    *,
    client_id: str | None = None,
    replace: bool = False,
    dry_run: bool = False,
) -> list[ImportResult]:
    """Import a file's keys in one unit of work; a dry run reads only."""
    async with rt.db.transaction() as tx:
        ensure_totp_enabled(rt.settings, (await fresh_environment(tx, env)).config)
        target = _Target(env, await require_application(tx, env, client_id), replace, dry_run)
        seen: set[str] = set()
        return [await _import_entry(tx, rt, actor, target, entry, seen) for entry in entries]


async def _import_entry(
    tx: Tx, rt: Runtime, actor: Actor, target: _Target, entry: Entry, seen: set[str]
) -> ImportResult:
    if isinstance(entry, Unreadable):
        return ImportResult(entry.where, entry.name, "refuse", entry.reason)
    user = await _find_user(tx, target.env, entry.names)
    if user is None:
        named = " or ".join(entry.names) or "nobody"
        return ImportResult(entry.where, _first(entry.names), "refuse", f"no user named {named}")
    account = account_label(user)
    if user.id in seen:
        return ImportResult(entry.where, account, "refuse", "the file has this user twice")
    seen.add(user.id)
    existing = await repo.get_authenticator(tx, user.id, target.app.id)
    if existing is not None and existing.status == "active":
        if _same_key(rt, existing, entry):
            return ImportResult(entry.where, account, "skip", "already has this key")
        if not target.replace:
            reason = "has an active authenticator (--replace overwrites it)"
            return ImportResult(entry.where, account, "refuse", reason)
    action: ImportAction = "create" if existing is None else "replace"
    if not target.dry_run:
        await _store(tx, rt, actor, target, user, existing, entry.secret, entry.params)
    reason = "new authenticator" if existing is None else f"was {existing.status}"
    return ImportResult(entry.where, account, action, reason)


def _first(names: tuple[str, ...]) -> str | None:
    return names[0] if names else None


async def _find_user(tx: Tx, env: EnvironmentRecord, names: tuple[str, ...]) -> UserRecord | None:
    for name in names:
        user = await find_user_by_identifier(tx, env.id, name)
        if user is not None:
            return user
    return None


def _same_key(rt: Runtime, existing: AuthenticatorRecord, entry: ImportedKey) -> bool:
    return params_of(existing) == entry.params and secret_of(rt, existing) == entry.secret


async def _store(
    tx: Tx,
    rt: Runtime,
    actor: Actor,
    target: _Target,
    user: UserRecord,
    existing: AuthenticatorRecord | None,
    secret: bytes,
    params: TotpParams,
) -> str:
    """Replace ``existing`` (if any) by an active authenticator of ``secret``; audited."""
    if existing is not None:
        await repo.delete_authenticator(tx, existing.id)
    authenticator_id = new_id()
    now = rt.clock.now()
    row = authenticator_row(
        rt, authenticator_id, user.id, target.app.id, secret, params, "active", now
    )
    if not await repo.insert_authenticator(tx, row):
        raise TotpAlreadyEnrolled()
    outcome = "create" if existing is None else "replace"
    env_id = target.env.id
    await audit(tx, rt, actor, "totp.import", outcome, environment_id=env_id, user_id=user.id)
    if existing is not None and existing.status == "active":
        # Replacing a second factor is a reset (spec 3b.8): the sessions it guarded end.
        await end_all_sessions(
            tx, rt, actor, environment_id=env_id, user_id=user.id, reason="totp_reset"
        )
    return authenticator_id


async def import_key(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    secret: bytes,
    params: TotpParams,
    *,
    client_id: str | None = None,
) -> str:
    """Register one user's existing key (the management API); refuses over an active one."""
    async with rt.db.transaction() as tx:
        ensure_totp_enabled(rt.settings, (await fresh_environment(tx, env)).config)
        user = await require_user(tx, env, user_id)
        app = await require_application(tx, env, client_id)
        existing = await repo.get_authenticator(tx, user.id, app.id)
        if existing is not None and existing.status == "active":
            raise TotpAlreadyEnrolled()
        target = _Target(env, app, replace=False, dry_run=False)
        return await _store(tx, rt, actor, target, user, existing, secret, params)


async def export_keys(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, *, client_id: str | None = None
) -> list[ExportedKey]:
    """The application's active keys, opened for a file; audited with their count only."""
    async with rt.db.transaction() as tx:
        config = (await fresh_environment(tx, env)).config
        app = await require_application(tx, env, client_id)
        sealed = await sealed_active_keys(tx, app.id)
        await audit(
            tx,
            rt,
            actor,
            "totp.export",
            "ok",
            environment_id=env.id,
            details={"count": len(sealed)},
        )
    issuer = config.totp.issuer or env.organization_name.replace(":", "").strip() or None
    return [
        ExportedKey(
            key.authenticator_id,
            key.email or key.username or key.phone or key.user_id,
            issuer,
            rt.box.decrypt(key.key_id, key.ciphertext, aad=key.authenticator_id.encode()),
            TotpParams(Algorithm(key.algorithm), key.digits, key.period),
        )
        for key in sealed
    ]


def read_key_file(data: bytes, fmt: FileFormat | None, passphrase: str | None) -> list[Entry]:
    """The entries of a file in ``fmt`` (guessed when None); ValueError when it is unreadable
    as a whole (a single bad key is an ``Unreadable`` entry instead)."""
    match fmt or guess_format(data):
        case "pskc":
            return read_pskc(data, passphrase)
        case "csv":
            return read_csv(data)
        case _:  # otpauth and migration lines may be mixed in one file
            return read_uri_lines(data)


def write_key_file(
    keys: list[ExportedKey], fmt: Literal["pskc", "otpauth"], passphrase: str
) -> bytes:
    """PSKC encrypted under ``passphrase``, or plain otpauth:// lines (``passphrase`` unused)."""
    if fmt == "pskc":
        return write_pskc(keys, passphrase)
    lines = [build_key_uri(KeyUri(key.secret, key.account, key.issuer, key.params)) for key in keys]
    return "".join(f"{line}\n" for line in lines).encode()
