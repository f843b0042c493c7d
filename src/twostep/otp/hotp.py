"""HOTP, the HMAC-based one-time password of RFC 4226."""

import hmac
import struct
from enum import StrEnum

__all__ = ["MAX_DIGITS", "MIN_DIGITS", "Algorithm", "hotp"]

MIN_DIGITS = 6
MAX_DIGITS = 8
_MAX_COUNTER = 2**64 - 1  # the counter is an 8-byte big-endian integer (RFC 4226 section 5.1)


class Algorithm(StrEnum):
    """The HMAC hash functions a TOTP may use (RFC 6238 section 1.2)."""

    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"


def hotp(
    key: bytes, counter: int, *, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1
) -> str:
    """Return the zero-padded HOTP value for `counter` (RFC 4226 section 5.3)."""
    if not 0 <= counter <= _MAX_COUNTER:
        raise ValueError(f"counter must be in 0..{_MAX_COUNTER}, got {counter}")
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValueError(f"digits must be in {MIN_DIGITS}..{MAX_DIGITS}, got {digits}")
    mac = hmac.digest(key, struct.pack(">Q", counter), Algorithm(algorithm).lower())
    return str(_truncate(mac) % 10**digits).zfill(digits)


def _truncate(mac: bytes) -> int:
    # Dynamic truncation: 31 bits at the offset named by the low nibble of the last byte.
    offset = mac[-1] & 0x0F
    (value,) = struct.unpack(">I", mac[offset : offset + 4])
    return int(value) & 0x7FFFFFFF
