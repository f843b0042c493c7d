"""A bounded least-recently-used map: a cache a ``Runtime`` owns (never a module global)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Memo"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Values kept by key, the least recently used dropped past ``size``; only a cache, so
    whatever it keeps must be rebuildable from the store (design: nothing correctness-critical
    lives in process memory)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[K, V] = OrderedDict()

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The value kept for ``key``, made (and kept) the first time."""
        value = self._values.get(key)
        if value is None:
            value = self._values[key] = make()
            if len(self._values) > self._size:
                self._values.popitem(last=False)
        else:
            self._values.move_to_end(key)
        return value

    def clear(self) -> None:
        """Forget everything (as a restarted process would)."""
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
