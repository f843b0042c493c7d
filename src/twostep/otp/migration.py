"""Google Authenticator's export: ``otpauth-migration://offline?data=<base64 protobuf>``.

The payload is a small protocol-buffers message (``MigrationPayload``, field 1 a repeated
``OtpParameters``); it is read here with a decoder of the wire format that knows only the
fields it needs, so that no protobuf library is required.
"""

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

__all__ = ["MigrationOtp", "parse_migration_payload", "parse_migration_uri"]

# Enum values of the app's message, in the order the app defines them (0 means unspecified).
_ALGORITHMS = {0: "SHA1", 1: "SHA1", 2: "SHA256", 3: "SHA512", 4: "MD5"}
_DIGITS = {0: 6, 1: 6, 2: 8}
_TYPES = {0: "totp", 1: "hotp", 2: "totp"}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_MAX_PAYLOAD = 1 << 20  # a phone's QR codes carry a few kilobytes; anything far bigger is not one


@dataclass(frozen=True, slots=True)
class MigrationOtp:
    """One account of the export; ``algorithm``/``otp_type`` as named by the app (may be
    unsupported here, such as MD5 or hotp: the caller refuses those)."""

    secret: bytes = field(repr=False)  # a logged entry must not leak the key
    name: str
    issuer: str
    algorithm: str
    digits: int
    otp_type: str


def parse_migration_uri(uri: str) -> list[MigrationOtp]:
    """The accounts of an ``otpauth-migration://offline?data=..`` URI; ValueError otherwise."""
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != "otpauth-migration" or parts.netloc.lower() != "offline":
        raise ValueError("not an otpauth-migration://offline URI")
    data = dict(parse_qsl(parts.query)).get("data")
    if not data:
        raise ValueError("the migration URI has no data parameter")
    # Some tools pass the URL-safe alphabet through, and drop the padding.
    data = data.replace("-", "+").replace("_", "/")
    try:
        payload = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("the migration data is not base64") from exc
    return parse_migration_payload(payload)


def parse_migration_payload(payload: bytes) -> list[MigrationOtp]:
    """Decode a ``MigrationPayload`` message: each field 1 is one ``OtpParameters``."""
    if len(payload) > _MAX_PAYLOAD:
        raise ValueError("the migration payload is too large")
    return [_otp(value) for number, value in _fields(payload) if number == 1]


def _otp(message: int | bytes) -> MigrationOtp:
    if not isinstance(message, bytes):
        raise ValueError("malformed migration payload: an account is not a message")
    values: dict[int, int | bytes] = dict(_fields(message))
    secret = _bytes(values.get(1, b""))
    if not secret:
        raise ValueError("malformed migration payload: an account has no secret")
    return MigrationOtp(
        secret=secret,
        name=_text(values.get(2, b"")),
        issuer=_text(values.get(3, b"")),
        algorithm=_ALGORITHMS.get(_int(values.get(4, 0)), "unknown"),
        digits=_DIGITS.get(_int(values.get(5, 0)), 0),
        otp_type=_TYPES.get(_int(values.get(6, 0)), "unknown"),
    )


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message; fixed-width values are skipped."""
    found: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            found.append((number, value))
        elif wire == _BYTES:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("malformed migration payload: truncated field")
            found.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (_FIXED64, _FIXED32):
            pos += 8 if wire == _FIXED64 else 4
        else:
            raise ValueError(f"malformed migration payload: wire type {wire}")
    if pos != len(data):
        raise ValueError("malformed migration payload: truncated field")
    return found


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while shift < 64:
        if pos >= len(data):
            raise ValueError("malformed migration payload: truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("malformed migration payload: varint too long")


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError("malformed migration payload: expected bytes")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ValueError("malformed migration payload: expected an integer")
    return value


def _text(value: int | bytes) -> str:
    try:
        return _bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("malformed migration payload: a name is not UTF-8") from exc
