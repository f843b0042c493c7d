"""Files of TOTP keys from other systems: otpauth:// lines, Google Authenticator's
otpauth-migration:// export, CSV and PSKC (RFC 6030, in ``pskc_files``); one entry per key.

A key that cannot be read becomes an ``Unreadable`` entry naming where it is and why, so that
one bad line refuses that line only. No reason ever quotes a secret.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Literal

from twostep.otp import Algorithm, TotpParams, b32decode, parse_key_uri
from twostep.otp.migration import MigrationOtp, parse_migration_uri

__all__ = [
    "CSV_COLUMNS",
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "Entry",
    "FileFormat",
    "ImportedKey",
    "Unreadable",
    "account_names",
    "check_secret",
    "guess_format",
    "read_csv",
    "read_uri_lines",
]

# RFC 4226 section 4 R6: a shared secret of at least 128 bits (160 recommended); the upper
# bound only keeps nonsense out (HMAC-SHA512 hashes longer keys first anyway).
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 64
CSV_COLUMNS = ("user", "secret", "algorithm", "digits", "period")
FileFormat = Literal["otpauth", "csv", "pskc", "migration"]


@dataclass(frozen=True, slots=True)
class ImportedKey:
    """A readable key: where it was, the names its user may go by, the secret and parameters."""

    where: str
    names: tuple[str, ...]
    secret: bytes = field(repr=False)  # a logged entry must not leak the key
    params: TotpParams


@dataclass(frozen=True, slots=True)
class Unreadable:
    where: str
    name: str | None
    reason: str


Entry = ImportedKey | Unreadable


def check_secret(secret: bytes) -> bytes:
    """The secret if its length is acceptable; ValueError otherwise."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"secret shorter than {MIN_SECRET_BYTES * 8} bits")
    if len(secret) > MAX_SECRET_BYTES:
        raise ValueError(f"secret longer than {MAX_SECRET_BYTES * 8} bits")
    return secret


_DN_PART = re.compile(r"^\s*(uid|cn|mail)\s*=\s*(.+?)\s*$", re.IGNORECASE)


def account_names(*labels: str | None) -> tuple[str, ...]:
    """The names a user may go by in these labels, in order: each label itself, the account
    of an ``Issuer:account`` label, and the uid/cn/mail of an LDAP DN (PSKC's UserId)."""
    names: list[str] = []
    for label in labels:
        if not label or not label.strip():
            continue
        label = label.strip()
        names.append(label)
        if ":" in label and "=" not in label:
            names.append(label.split(":", 1)[1].strip())
        for part in label.split(",") if "=" in label else ():
            match = _DN_PART.match(part)
            if match:
                names.append(match.group(2))
    return tuple(dict.fromkeys(name for name in names if name))


def guess_format(data: bytes) -> FileFormat:
    """The format of a file by its first line that is neither blank nor a # comment."""
    lines = (line.strip() for line in data[:65536].splitlines())
    head = next((line for line in lines if line and not line.startswith(b"#")), b"")[:64].lower()
    if head.startswith(b"<"):
        return "pskc"
    if head.startswith(b"otpauth-migration:"):
        return "migration"
    if head.startswith(b"otpauth:"):
        return "otpauth"
    return "csv"


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError("the file is not UTF-8 text") from exc


def read_uri_lines(data: bytes) -> list[Entry]:
    """One otpauth:// or otpauth-migration:// URI a line; blank lines and # comments skipped."""
    entries: list[Entry] = []
    for number, line in enumerate(_text(data).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {number}"
        if line.lower().startswith("otpauth-migration:"):
            entries += _migration_entries(where, line)
            continue
        try:
            key = parse_key_uri(line)
            entries.append(
                ImportedKey(where, account_names(key.account), check_secret(key.secret), key.params)
            )
        except ValueError as exc:
            entries.append(Unreadable(where, None, str(exc)))
    return entries


def _migration_entries(where: str, line: str) -> list[Entry]:
    try:
        accounts = parse_migration_uri(line)
    except ValueError as exc:
        return [Unreadable(where, None, str(exc))]
    return [_migration_entry(f"{where} account {n}", o) for n, o in enumerate(accounts, 1)]


def _migration_entry(where: str, otp: MigrationOtp) -> Entry:
    name = otp.name or None
    if otp.otp_type != "totp":
        return Unreadable(where, name, f"{otp.otp_type} key: only TOTP keys are imported")
    try:
        # The app's export has no period: its TOTP keys all use 30 seconds.
        params = TotpParams(Algorithm(otp.algorithm), otp.digits, 30)
        return ImportedKey(where, account_names(otp.name), check_secret(otp.secret), params)
    except ValueError as exc:
        reason = str(exc) if "secret" in str(exc) else f"unsupported algorithm {otp.algorithm}"
        return Unreadable(where, name, reason)


def read_csv(data: bytes) -> list[Entry]:
    """``user,secret,algorithm,digits,period`` with a header; empty parameters take
    SHA1, 6 digits and 30 seconds."""
    reader = csv.DictReader(io.StringIO(_text(data)))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "user" not in header or "secret" not in header:
        raise ValueError("the CSV header must name the columns " + ",".join(CSV_COLUMNS))
    reader.fieldnames = header
    entries: list[Entry] = []
    for row in reader:
        where = f"line {reader.line_num}"
        user = (row.get("user") or "").strip()
        try:
            entries.append(_csv_entry(where, user, row))
        except ValueError as exc:
            entries.append(Unreadable(where, user or None, str(exc)))
    return entries


def _csv_entry(where: str, user: str, row: dict[str, str | None]) -> ImportedKey:
    if not user:
        raise ValueError("the user column is empty")
    secret = check_secret(b32decode(row.get("secret") or ""))
    algorithm = (row.get("algorithm") or "SHA1").strip().upper().replace("-", "")
    if algorithm not in Algorithm.__members__:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    params = TotpParams(
        Algorithm(algorithm),
        _number("digits", row.get("digits"), 6),
        _number("period", row.get("period"), 30),
    )
    return ImportedKey(where, account_names(user), secret, params)


def _number(name: str, text: str | None, default: int) -> int:
    text = (text or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        raise ValueError(f"{name} must be a small decimal integer, got {text!r}")
    return int(text)
