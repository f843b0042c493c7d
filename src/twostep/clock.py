"""Time as an input: services take a ``Clock`` so tests can freeze it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock", "to_datetime"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


def to_datetime(epoch: float) -> datetime:
    """An aware UTC datetime for an epoch timestamp."""
    return datetime.fromtimestamp(epoch, tz=UTC)
