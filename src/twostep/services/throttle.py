"""Per-IP limits on wrong codes and passwords (spec 3.6), counted in the database so that every
node of a cluster sees the same numbers."""

from __future__ import annotations

from twostep.errors import LockedOut
from twostep.services.runtime import Runtime
from twostep.storage import Tx
from twostep.storage.repositories.audit import add_ip_failure

__all__ = ["current_minute", "note_ip_failure", "refuse_if_over_limit"]

_WINDOW_S = 60


def _minute(now: float) -> int:
    return int(now // _WINDOW_S)


def _retry_after(now: float) -> int:
    return max(1, _WINDOW_S - int(now % _WINDOW_S))


def refuse_if_over_limit(rt: Runtime, failures: int) -> None:
    """Refuse an attempt, without evaluating it, once the address used up its minute."""
    if failures >= rt.settings.ip_failure_limit:
        wait = _retry_after(rt.clock.now())
        raise LockedOut(retry_after=wait, seconds=wait)


def current_minute(rt: Runtime) -> int:
    return _minute(rt.clock.now())


async def note_ip_failure(tx: Tx, rt: Runtime, ip: str | None) -> int | None:
    """Count a wrong guess; returns the seconds to wait when it went past the address's limit.

    The check in ``refuse_if_over_limit`` reads before evaluating, so guesses racing in at once all
    pass it; the increment here is atomic, and the caller answers those past the limit with the
    lock instead of their result, so at most the limit of answers per minute tell anything.
    """
    if ip is None:
        return None
    now = rt.clock.now()
    if await add_ip_failure(tx, ip, _minute(now)) > rt.settings.ip_failure_limit:
        return _retry_after(now)
    return None
