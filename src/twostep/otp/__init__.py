"""The pure TOTP core (RFC 4226, RFC 6238): standard library only, no I/O, no clock."""

from twostep.otp.backoff import (
    BASE_DELAY,
    MAX_DELAY,
    SUSPEND_AFTER,
    delay_table,
    is_suspended,
    lockout_delay,
)
from twostep.otp.hotp import Algorithm, hotp
from twostep.otp.recovery import (
    RECOVERY_CODE_BITS,
    format_recovery_code,
    new_recovery_code,
    new_recovery_codes,
    normalize_recovery_code,
)
from twostep.otp.secret import SECRET_BYTES, Secret, b32decode, b32encode, new_secret
from twostep.otp.totp import (
    Match,
    TotpParams,
    code_at,
    code_for_step,
    find_step,
    normalize_code,
    time_step,
)
from twostep.otp.uri import KeyUri, build_key_uri, parse_key_uri

__all__ = [
    "BASE_DELAY",
    "MAX_DELAY",
    "RECOVERY_CODE_BITS",
    "SECRET_BYTES",
    "SUSPEND_AFTER",
    "Algorithm",
    "KeyUri",
    "Match",
    "Secret",
    "TotpParams",
    "b32decode",
    "b32encode",
    "build_key_uri",
    "code_at",
    "code_for_step",
    "delay_table",
    "find_step",
    "format_recovery_code",
    "hotp",
    "is_suspended",
    "lockout_delay",
    "new_recovery_code",
    "new_recovery_codes",
    "new_secret",
    "normalize_code",
    "normalize_recovery_code",
    "parse_key_uri",
    "time_step",
]
