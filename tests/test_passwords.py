"""argon2id password hashing."""

from __future__ import annotations

import pytest

from twostep.passwords import DUMMY_HASH, PasswordHasher


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=64)


def test_hash_is_argon2id_and_salted(hasher: PasswordHasher) -> None:
    first, second = hasher.hash("correct horse"), hasher.hash("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second


@pytest.mark.parametrize(
    ("password", "attempt", "expected"),
    [
        ("correct horse", "correct horse", True),
        ("correct horse", "correct horse ", False),
        ("correct horse", "Correct horse", False),
        ("", "", True),
        ("", "x", False),
        ("mot de passe été", "mot de passe été", True),
    ],
)
def test_verify(hasher: PasswordHasher, password: str, attempt: str, expected: bool) -> None:
    assert hasher.verify(hasher.hash(password), attempt) is expected


@pytest.mark.parametrize(
    "bad_hash",
    ["", "not a hash", "$argon2id$", "$argon2id$v=19$m=8,t=1,p=4$AAAA$BBBB", "$2b$12$abcdefghijk"],
)
def test_bad_hash_is_false(hasher: PasswordHasher, bad_hash: str) -> None:
    assert hasher.verify(bad_hash, "whatever") is False
    assert hasher.needs_rehash(bad_hash) is True


def test_needs_rehash_when_parameters_change(hasher: PasswordHasher) -> None:
    cheap = hasher.hash("pw")
    assert hasher.needs_rehash(cheap) is False
    assert PasswordHasher(time_cost=2, memory_cost=64).needs_rehash(cheap) is True


def test_dummy_hash_matches_the_hasher_parameters(hasher: PasswordHasher) -> None:
    assert hasher.dummy_hash != DUMMY_HASH
    assert hasher.needs_rehash(hasher.dummy_hash) is False
    assert hasher.verify_dummy("anything") is False


def test_real_parameters() -> None:
    """The production profile: RFC 9106 low memory, and the dummy hash uses it."""
    real = PasswordHasher()
    stored = real.hash("hunter2")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert real.verify(stored, "hunter2") is True
    assert real.needs_rehash(DUMMY_HASH) is False
    assert real.dummy_hash == DUMMY_HASH


async def test_async_wrappers(hasher: PasswordHasher) -> None:
    stored = await hasher.hash_async("pw")
    assert await hasher.verify_async(stored, "pw") is True
    assert await hasher.verify_async(stored, "no") is False
    assert await hasher.verify_async("garbage", "pw") is False
    assert await hasher.verify_dummy_async("pw") is False
