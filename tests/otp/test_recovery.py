"""Recovery codes: entropy, distinctness and forgiving input."""

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.otp.recovery import (
    RECOVERY_ALPHABET,
    RECOVERY_CODE_BITS,
    RECOVERY_CODE_LENGTH,
    format_recovery_code,
    new_recovery_code,
    new_recovery_codes,
    normalize_recovery_code,
)

GROUPED = re.compile(r"^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$")


def test_alphabet_and_entropy() -> None:
    assert len(set(RECOVERY_ALPHABET)) == len(RECOVERY_ALPHABET) == 32
    assert not set("ilou") & set(RECOVERY_ALPHABET)
    bits = RECOVERY_CODE_LENGTH * math.log2(len(RECOVERY_ALPHABET))
    assert bits == RECOVERY_CODE_BITS >= 64


def test_new_recovery_code_shape() -> None:
    for _ in range(50):
        code = new_recovery_code()
        assert GROUPED.match(code), code
        assert normalize_recovery_code(code) == code.replace("-", "")


def test_codes_use_the_whole_alphabet() -> None:
    seen = set("".join(new_recovery_code() for _ in range(200)).replace("-", ""))
    assert seen == set(RECOVERY_ALPHABET)


@pytest.mark.parametrize("count", [1, 5, 20])
def test_new_recovery_codes_are_distinct(count: int) -> None:
    codes = new_recovery_codes(count)
    assert len(codes) == len(set(codes)) == count
    assert all(GROUPED.match(code) for code in codes)


@pytest.mark.parametrize("count", [0, -1, 21])
def test_new_recovery_codes_count_bounds(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        new_recovery_codes(count)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("abcd-efgh-jkmn-pqrs", "abcdefghjkmnpqrs"),
        ("ABCD EFGH JKMN PQRS", "abcdefghjkmnpqrs"),
        ("  abcd_efgh-jkmn pqrs\n", "abcdefghjkmnpqrs"),
        ("0000-1111-2222-3333", "0000111122223333"),
        ("OOOO-IIII-LLLL-3333", "0000111111113333"),  # confusables read as digits
    ],
)
def test_normalize_accepts_typed_forms(typed: str, canonical: str) -> None:
    assert normalize_recovery_code(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "abcd-efgh-jkmn",
        "abcd-efgh-jkmn-pqrs-t",
        "abcd-efgh-jkmn-pqru",
        "abcd-efgh-jkmn-pqr!",
        "ａｂｃｄ-efgh-jkmn-pqrs",
        None,
        1234,
    ],
)
def test_normalize_rejects_without_raising(typed: str) -> None:
    assert normalize_recovery_code(typed) == ""


def test_format_groups_by_four() -> None:
    assert format_recovery_code("abcdefghjkmnpqrs") == "abcd-efgh-jkmn-pqrs"


canonical_codes = st.text(st.sampled_from(RECOVERY_ALPHABET), min_size=16, max_size=16)


@st.composite
def mangled(draw: st.DrawFn, canonical: str) -> str:
    shown = format_recovery_code(canonical)
    out = []
    for ch in shown:
        if ch == "-":
            out.append(draw(st.sampled_from(["-", " ", "", "_", " - "])))
        else:
            out.append(ch.upper() if draw(st.booleans()) else ch)
        out.append(draw(st.sampled_from(["", "", "", " ", "-"])))
    return draw(st.sampled_from(["", " "])) + "".join(out) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=100)
@given(st.data(), canonical_codes)
def test_normalization_round_trip(data: st.DataObject, canonical: str) -> None:
    typed = data.draw(mangled(canonical))
    assert normalize_recovery_code(typed) == canonical
