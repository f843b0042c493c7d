"""PSKC (RFC 6030) key containers, read and written with python-pskc.

Written files encrypt every secret with a key derived from a passphrase (RFC 6030 section
6.2: PBKDF2, then AES-CBC with an HMAC over each value), so a file that leaks is only as weak
as its passphrase.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from pskc import PSKC
from pskc.exceptions import PSKCError
from pskc.key import Key

from twostep.otp import Algorithm, TotpParams
from twostep.services.key_files import Entry, ImportedKey, Unreadable, account_names, check_secret

__all__ = ["PBKDF2_ITERATIONS", "TOTP_ALGORITHM", "ExportedKey", "read_pskc", "write_pskc"]

TOTP_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
# OWASP's 2023 figure for PBKDF2-HMAC-SHA1: an export is an offline target. SHA1 is RFC 6030's
# default PRF, which every reader knows (python-pskc 1.4 cannot read back the PRF it writes).
PBKDF2_ITERATIONS = 1_300_000


@dataclass(frozen=True, slots=True)
class ExportedKey:
    """An authenticator as it leaves: its id, the user's account name, secret and parameters."""

    id: str
    account: str
    issuer: str | None
    secret: bytes = field(repr=False)
    params: TotpParams


def read_pskc(data: bytes, passphrase: str | None) -> list[Entry]:
    """The keys of a PSKC container; an encrypted one needs its passphrase."""
    try:
        container = PSKC(io.BytesIO(data))
    except PSKCError as exc:
        raise ValueError(f"not a PSKC file: {exc}") from exc
    if container.encryption.is_encrypted:
        if not passphrase:
            raise ValueError("the PSKC file is encrypted: a passphrase is needed")
        try:
            container.encryption.derive_key(passphrase)
        except PSKCError as exc:
            raise ValueError(f"cannot derive the PSKC key: {exc}") from exc
    return [_entry(f"key {n}", key) for n, key in enumerate(container.keys, start=1)]


def _entry(where: str, key: Key) -> Entry:
    names = account_names(key.key_userid, key.device_userid)
    name = names[0] if names else None
    if not (key.algorithm or "").lower().endswith(("totp", "#totp")):
        return Unreadable(where, name, f"{key.algorithm or 'no'} algorithm: only TOTP keys")
    try:
        secret = key.secret
    except PSKCError:
        return Unreadable(where, name, "cannot decrypt the secret (wrong passphrase?)")
    if not secret:
        return Unreadable(where, name, "no secret")
    try:
        params = TotpParams(_algorithm(key.algorithm_suite), key.response_length or 6, _period(key))
        return ImportedKey(where, names, check_secret(secret), params)
    except ValueError as exc:
        return Unreadable(where, name, str(exc))


def _period(key: Key) -> int:
    period = key.time_interval
    return 30 if period is None else int(period)


def _algorithm(suite: str | None) -> Algorithm:
    """The hash of a PSKC ``<Suite>``: SHA1 when absent; HMAC-SHA256, SHA-256 or SHA256."""
    name = (suite or "SHA1").upper().removeprefix("HMAC-").replace("-", "")
    if name not in Algorithm.__members__:
        raise ValueError(f"unsupported algorithm suite {suite!r}")
    return Algorithm(name)


def write_pskc(keys: Sequence[ExportedKey], passphrase: str) -> bytes:
    """A PSKC container of ``keys``, every secret encrypted under ``passphrase``."""
    container = PSKC()
    for key in keys:
        container.add_key(
            id=key.id,
            algorithm=TOTP_ALGORITHM,
            algorithm_suite=f"HMAC-{key.params.algorithm.value}",
            secret=key.secret,
            issuer=key.issuer,
            key_userid=key.account,
            response_length=key.params.digits,
            response_encoding="DECIMAL",
            time_interval=key.params.period,
            time_offset=0,
        )
    container.encryption.setup_pbkdf2(
        passphrase,
        algorithm="aes256-cbc",
        iterations=PBKDF2_ITERATIONS,
    )
    out = io.BytesIO()
    container.write(out)
    return out.getvalue()
