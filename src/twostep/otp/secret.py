"""Shared secrets: generation, Base32 text form and a wrapper that never prints."""

import base64
import binascii
import hmac
import secrets
from typing import NoReturn

__all__ = ["SECRET_BYTES", "Secret", "b32decode", "b32encode", "new_secret"]

SECRET_BYTES = 20  # 160 bits, RFC 4226 section 4 recommendation
_B32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def new_secret(nbytes: int = SECRET_BYTES) -> bytes:
    """Draw a random shared secret of at least 160 bits (RFC 4226 section 4, R6)."""
    if nbytes < SECRET_BYTES:
        raise ValueError(f"a secret needs at least {SECRET_BYTES} bytes, got {nbytes}")
    return secrets.token_bytes(nbytes)


def b32encode(key: bytes) -> str:
    """Encode `key` as upper-case Base32 without '=' padding (RFC 4648 section 6)."""
    return base64.b32encode(key).decode("ascii").rstrip("=")


def b32decode(text: str) -> bytes:
    """Decode Base32 tolerating lower case, spaces, dashes and missing padding (RFC 4648 s. 6)."""
    cleaned = "".join(text.split()).replace("-", "").rstrip("=")
    if not cleaned.isascii() or not _B32_ALPHABET.issuperset(cleaned.upper()):
        raise ValueError("not a Base32 string")
    try:
        return base64.b32decode(cleaned.upper() + "=" * (-len(cleaned) % 8))
    except binascii.Error as exc:
        raise ValueError(f"not a Base32 string: {exc}") from None


class Secret:
    """Secret bytes with a masked repr, constant-time equality and no hash."""

    __slots__ = ("_value",)
    _value: bytes

    def __init__(self, value: bytes) -> None:
        object.__setattr__(self, "_value", bytes(value))

    def reveal(self) -> bytes:
        """Return the wrapped bytes; call it only where the bytes are needed."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(********)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    # Unhashable: a hash of the bytes would be a cheap oracle on them.
    __hash__ = None  # type: ignore[assignment]

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")
