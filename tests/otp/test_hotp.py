"""RFC 4226: the Appendix D vectors and the argument checks."""

import pytest

from twostep.otp.hotp import Algorithm, hotp

RFC4226_KEY = b"12345678901234567890"

# RFC 4226 Appendix D: HOTP values for counters 0..9.
RFC4226_VECTORS = [
    (0, "755224"),
    (1, "287082"),
    (2, "359152"),
    (3, "969429"),
    (4, "338314"),
    (5, "254676"),
    (6, "287922"),
    (7, "162583"),
    (8, "399871"),
    (9, "520489"),
]


@pytest.mark.parametrize(("counter", "expected"), RFC4226_VECTORS)
def test_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert hotp(RFC4226_KEY, counter) == expected


def test_codes_are_zero_padded() -> None:
    # Some of these codes start with 0: padding must keep them 8 characters long.
    codes = [hotp(RFC4226_KEY, c, digits=8) for c in range(200)]
    assert all(len(code) == 8 and code.isdigit() for code in codes)
    assert any(code.startswith("0") for code in codes)


def test_algorithm_accepts_its_string_value() -> None:
    assert hotp(RFC4226_KEY, 1, algorithm=Algorithm("SHA256")) == hotp(
        RFC4226_KEY, 1, algorithm=Algorithm.SHA256
    )


@pytest.mark.parametrize("counter", [-1, 2**64])
def test_counter_out_of_range(counter: int) -> None:
    with pytest.raises(ValueError, match="counter"):
        hotp(RFC4226_KEY, counter)


@pytest.mark.parametrize("digits", [0, 5, 9, 10])
def test_digits_out_of_range(digits: int) -> None:
    with pytest.raises(ValueError, match="digits"):
        hotp(RFC4226_KEY, 0, digits=digits)


def test_largest_counter() -> None:
    assert len(hotp(RFC4226_KEY, 2**64 - 1)) == 6
