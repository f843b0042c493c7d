"""Lock pairing (spec 3.13, MIB/Latch): a user pairs a lock and closes it to refuse every login;
TOTP hangs off the pairing, so unpairing removes the user's authenticators too."""

from __future__ import annotations

from twostep.errors import Conflict, Forbidden, NotFound
from twostep.services.accounts import UserView, get_user, require_user
from twostep.services.audit import audit
from twostep.services.events import emit
from twostep.services.organizations import fresh_environment
from twostep.services.revocation import end_all_sessions
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import users as repo
from twostep.storage.repositories.authenticators import delete_user_authenticators
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = ["pair_lock", "set_lock", "unpair_lock"]


async def _ensure_enabled(tx: Tx, env: EnvironmentRecord) -> None:
    if not (await fresh_environment(tx, env)).config.lock.enabled:
        raise Forbidden("Lock pairing is not enabled for this environment.")


async def pair_lock(rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str) -> UserView:
    async with rt.db.transaction() as tx:
        await _ensure_enabled(tx, env)
        await require_user(tx, env, user_id)
        if not await repo.pair_lock(tx, env.id, user_id, rt.clock.now()):
            raise Conflict("A lock is already paired.")
        await audit(tx, rt, actor, "lock.pair", "ok", environment_id=env.id, user_id=user_id)
        await emit(tx, rt, env.id, "lock.paired", {"user_id": user_id})
    return await get_user(rt, env, user_id)


async def set_lock(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str, *, closed: bool
) -> UserView:
    async with rt.db.transaction() as tx:
        await _ensure_enabled(tx, env)
        before = await require_user(tx, env, user_id)
        if not await repo.set_lock_closed(tx, env.id, user_id, closed):
            raise NotFound("No lock is paired.")
        action = "lock.close" if closed else "lock.open"
        await audit(tx, rt, actor, action, "ok", environment_id=env.id, user_id=user_id)
        if before.lock_closed != closed:  # an event per change, not per request
            await emit(
                tx, rt, env.id, "lock.closed" if closed else "lock.opened", {"user_id": user_id}
            )
        if closed:  # the owner refuses every login: those already made end too (spec 3b.8)
            await end_all_sessions(
                tx, rt, actor, environment_id=env.id, user_id=user_id, reason="lock_closed"
            )
    return await get_user(rt, env, user_id)


async def unpair_lock(rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str) -> None:
    async with rt.db.transaction() as tx:
        await require_user(tx, env, user_id)
        if not await repo.unpair_lock(tx, env.id, user_id):
            raise NotFound("No lock is paired.")
        removed = await delete_user_authenticators(tx, user_id)
        await audit(
            tx,
            rt,
            actor,
            "lock.unpair",
            "ok",
            environment_id=env.id,
            user_id=user_id,
            details={"authenticators_removed": removed},
        )
