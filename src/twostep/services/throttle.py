"""Per-IP limits on wrong codes and passwords (spec 3.6, 3b.4), counted in the database so that
every node of a cluster sees the same numbers.

Only end users' addresses are counted (``Actor.end_user_ip``), and per environment: one
tenant's traffic never throttles another's, and a tenant's backend is never throttled by its
own address.
"""

from __future__ import annotations

from twostep.errors import LockedOut
from twostep.services.audit import audit
from twostep.services.decision import refused
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.throttle import add_ip_failure, count_ip_failures

__all__ = [
    "RATE_LIMITED",
    "TOO_MANY_ATTEMPTS",
    "address_refusal",
    "guard_address",
    "note_ip_failure",
]

_WINDOW_S = 60
# The audit outcome of an attempt refused, unevaluated, because its address used up its minute.
RATE_LIMITED = "rate_limited"
# What a throttled password step says: a person who typed no code must not read "wrong codes".
TOO_MANY_ATTEMPTS = "Too many attempts. Try again in {seconds} seconds."


def _minute(now: float) -> int:
    return int(now // _WINDOW_S)


def _retry_after(now: float) -> int:
    return max(1, _WINDOW_S - int(now % _WINDOW_S))


async def address_refusal(tx: Tx, rt: Runtime, actor: Actor, env: EnvironmentRecord) -> int | None:
    """The seconds to wait when the end user's address used up its minute in the environment."""
    if actor.end_user_ip is None:
        return None
    now = rt.clock.now()
    failures = await count_ip_failures(tx, env.id, actor.end_user_ip, _minute(now))
    return _retry_after(now) if failures >= rt.settings.ip_failure_limit else None


async def guard_address(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    action: str,
    *,
    user_id: str | None = None,
    msgid: str | None = None,
) -> None:
    """Refuse an attempt, without evaluating it, once the end user's address used up its
    minute in the environment; the refusal's audit row is committed before the raise."""
    if actor.end_user_ip is None:
        return
    async with rt.db.transaction() as tx:
        wait = await address_refusal(tx, rt, actor, env)
        if wait is None:
            return
        decision = refused(RATE_LIMITED, LockedOut(msgid, retry_after=wait, seconds=wait))
        await audit(tx, rt, actor, action, decision.outcome, environment_id=env.id, user_id=user_id)
    decision.raise_refusal()


async def note_ip_failure(tx: Tx, rt: Runtime, actor: Actor, env: EnvironmentRecord) -> int | None:
    """Count a wrong guess; returns the seconds to wait when it went past the address's limit.

    The check in ``guard_address`` reads before evaluating, so guesses racing in at once all
    pass it; the increment here is atomic, and the caller answers those past the limit with the
    lock instead of their result, so at most the limit of answers per minute tell anything.
    """
    if actor.end_user_ip is None:
        return None
    now = rt.clock.now()
    count = await add_ip_failure(tx, env.id, actor.end_user_ip, _minute(now))
    return _retry_after(now) if count > rt.settings.ip_failure_limit else None
