"""Password hashing with argon2id (RFC 9106 low-memory profile), sync and in a worker thread."""

from __future__ import annotations

import secrets
from typing import Literal

import anyio.to_thread
import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

__all__ = ["DUMMY_HASH", "PasswordHasher"]

# A hash of a random, forgotten password with the default parameters. Logging in as an
# unknown user still verifies the password against it (``verify_dummy``) so that the
# answer takes as long as for a known user with a wrong password: response times do not
# reveal which accounts exist.
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$thdH+07K+KH8KeVsLHutEw"
    "$5tXj5OYB1pHhErmzHLUWVYGwp5C9+i2IxA21LilgQW8"
)


class PasswordHasher:
    """argon2id hashes; cheaper ``time_cost``/``memory_cost`` are for tests only."""

    def __init__(self, *, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        params = RFC_9106_LOW_MEMORY
        self._hasher = argon2.PasswordHasher(
            time_cost=params.time_cost if time_cost is None else time_cost,
            memory_cost=params.memory_cost if memory_cost is None else memory_cost,
            parallelism=params.parallelism,
            hash_len=params.hash_len,
            salt_len=params.salt_len,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None if self.needs_rehash(DUMMY_HASH) else DUMMY_HASH

    @property
    def dummy_hash(self) -> str:
        """A hash made with this hasher's parameters, of a password nobody knows."""
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(32))
        return self._dummy

    def hash(self, password: str) -> str:
        """A new salted argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def verify(self, hash: str, password: str) -> bool:
        """Whether ``password`` matches ``hash``; False (never an error) for a malformed hash."""
        try:
            return self._hasher.verify(hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> Literal[False]:
        """Spend the time of a verification for a user that does not exist; always False."""
        self.verify(self.dummy_hash, password)
        return False

    def needs_rehash(self, hash: str) -> bool:
        """Whether ``hash`` was made with other parameters (or is unreadable) than these."""
        try:
            return self._hasher.check_needs_rehash(hash)
        except (InvalidHashError, ValueError):
            return True

    async def hash_async(self, password: str) -> str:
        """``hash`` in a worker thread, so the event loop keeps serving."""
        return await anyio.to_thread.run_sync(self.hash, password)

    async def verify_async(self, hash: str, password: str) -> bool:
        """``verify`` in a worker thread, so the event loop keeps serving."""
        return await anyio.to_thread.run_sync(self.verify, hash, password)

    async def verify_dummy_async(self, password: str) -> Literal[False]:
        """``verify_dummy`` in a worker thread."""
        await anyio.to_thread.run_sync(self.verify_dummy, password)
        return False
