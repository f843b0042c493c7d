"""Google Authenticator's otpauth-migration:// export, decoded from payloads built here with
the protobuf wire format written out by hand (an encoder independent of the decoder)."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twostep.otp.migration import MigrationOtp, parse_migration_payload, parse_migration_uri

ALGORITHMS = {"SHA1": 1, "SHA256": 2, "SHA512": 3, "MD5": 4}
DIGITS = {6: 1, 8: 2}
TYPES = {"hotp": 1, "totp": 2}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def field_int(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def otp_parameters(otp: MigrationOtp) -> bytes:
    return (
        field_bytes(1, otp.secret)
        + field_bytes(2, otp.name.encode())
        + field_bytes(3, otp.issuer.encode())
        + field_int(4, ALGORITHMS[otp.algorithm])
        + field_int(5, DIGITS[otp.digits])
        + field_int(6, TYPES[otp.otp_type])
        + field_int(7, 0)
    )


def migration_uri(*otps: MigrationOtp) -> str:
    """A URI as the app shows it in its export QR code (version 1, one batch)."""
    payload = b"".join(field_bytes(1, otp_parameters(otp)) for otp in otps)
    payload += field_int(2, 1) + field_int(3, 1) + field_int(4, 0) + field_int(5, 12345)
    data = base64.b64encode(payload).decode()
    return f"otpauth-migration://offline?data={quote(data, safe='')}"


ALICE = MigrationOtp(b"\x01" * 20, "Acme:alice@example.com", "Acme", "SHA1", 6, "totp")
BOB = MigrationOtp(b"\xfe" * 32, "bob", "", "SHA512", 8, "totp")


def test_a_two_account_export_decodes_to_both_accounts() -> None:
    assert parse_migration_uri(migration_uri(ALICE, BOB)) == [ALICE, BOB]


def test_unsupported_kinds_are_reported_not_dropped() -> None:
    hotp = MigrationOtp(b"k" * 20, "h", "", "MD5", 6, "hotp")
    assert parse_migration_uri(migration_uri(hotp)) == [hotp]


def test_unspecified_enums_take_the_apps_defaults() -> None:
    payload = field_bytes(1, field_bytes(1, b"s" * 20) + field_bytes(2, b"x"))
    (otp,) = parse_migration_payload(payload)
    assert (otp.algorithm, otp.digits, otp.otp_type) == ("SHA1", 6, "totp")


def test_the_secret_is_not_in_the_repr() -> None:
    assert "secret" not in repr(ALICE)


@pytest.mark.parametrize(
    "uri",
    [
        "otpauth://totp/x?secret=AAAA",
        "otpauth-migration://offline",
        "otpauth-migration://offline?data=!!!",
        "otpauth-migration://offline?data=" + base64.b64encode(b"\x0a\x05ab").decode(),
        "otpauth-migration://offline?data=" + base64.b64encode(b"\x0a").decode(),
        "otpauth-migration://offline?data=" + base64.b64encode(b"\x0b").decode(),
        "otpauth-migration://offline?data=" + base64.b64encode(b"\x08\x01").decode(),
        "otpauth-migration://offline?data=" + base64.b64encode(b"\x80" * 11).decode(),
    ],
    ids=["key-uri", "no-data", "not-base64", "truncated", "no-length", "wire-3", "int", "varint"],
)
def test_malformed_exports_are_value_errors(uri: str) -> None:
    with pytest.raises(ValueError, match=r"migration|otpauth-migration|base64"):
        parse_migration_uri(uri)


otps = st.builds(
    MigrationOtp,
    secret=st.binary(min_size=1, max_size=64),
    name=st.text(max_size=40),
    issuer=st.text(max_size=40),
    algorithm=st.sampled_from(sorted(ALGORITHMS)),
    digits=st.sampled_from(sorted(DIGITS)),
    otp_type=st.sampled_from(sorted(TYPES)),
)


@given(st.lists(otps, max_size=5))
def test_any_export_round_trips(accounts: list[MigrationOtp]) -> None:
    assert parse_migration_uri(migration_uri(*accounts)) == accounts
