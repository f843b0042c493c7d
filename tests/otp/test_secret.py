"""Secrets: entropy, Base32 and the masked wrapper."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.otp.secret import SECRET_BYTES, Secret, b32decode, b32encode, new_secret


def test_new_secret_has_at_least_160_bits_and_is_fresh() -> None:
    drawn = [new_secret() for _ in range(100)]
    assert SECRET_BYTES * 8 >= 160
    assert all(len(s) == SECRET_BYTES for s in drawn)
    assert len(set(drawn)) == len(drawn)
    assert len(new_secret(32)) == 32


def test_new_secret_refuses_short_secrets() -> None:
    with pytest.raises(ValueError, match="at least 20 bytes"):
        new_secret(19)


def test_b32encode_is_upper_case_without_padding() -> None:
    assert b32encode(b"12345678901234567890") == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert b32encode(b"\xff") == "74"


@pytest.mark.parametrize(
    "text",
    [
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
        "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
        "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
        " GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
    ],
)
def test_b32decode_is_tolerant(text: str) -> None:
    assert b32decode(text) == b"12345678901234567890"


@pytest.mark.parametrize("text", ["GEZDGNBVGY3TQOJ1", "GEZ", "A", "GE=ZD", "GEZDGNB!", "ＧＥＺＤ"])
def test_b32decode_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="Base32"):
        b32decode(text)


@settings(max_examples=100)
@given(st.binary(max_size=80))
def test_b32_round_trip(key: bytes) -> None:
    text = b32encode(key)
    assert "=" not in text
    assert b32decode(text) == key
    assert b32decode(text.lower()) == key


def test_secret_never_prints_its_bytes() -> None:
    raw = b"\x00top-secret-bytes\xff"
    secret = Secret(raw)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert "top-secret" not in shown
        assert "Secret(********)" in shown
    assert secret.reveal() == raw


def test_secret_equality_and_hashing() -> None:
    assert Secret(b"abc") == Secret(b"abc")
    assert Secret(b"abc") != Secret(b"abd")
    assert Secret(b"abc") != b"abc"
    with pytest.raises(TypeError, match="unhashable"):
        hash(Secret(b"abc"))


def test_secret_is_immutable() -> None:
    secret = Secret(b"abc")
    with pytest.raises(AttributeError, match="immutable"):
        secret._value = b"xyz"
    assert secret.reveal() == b"abc"
