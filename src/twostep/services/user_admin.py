"""Finding a user the way an operator names them: by id, email or username."""

from __future__ import annotations

from twostep.errors import NotFound
from twostep.services.accounts import UserView, get_user
from twostep.services.runtime import Runtime
from twostep.storage.repositories import users as repo
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = ["find_user", "resolve_user_id"]


async def resolve_user_id(rt: Runtime, env: EnvironmentRecord, identifier: str) -> str:
    """The id of the user that ``identifier`` names: their id, username or email (any case)."""
    identifier = identifier.strip()
    async with rt.db.transaction() as tx:
        user = await repo.get_user(tx, env.id, identifier)
        if user is None:
            user = await repo.find_user_by_identifier(tx, env.id, identifier)
    if user is None:
        raise NotFound("Unknown user.")
    return user.id


async def find_user(rt: Runtime, env: EnvironmentRecord, identifier: str) -> UserView:
    """The user ``identifier`` names, with their two-factor summary."""
    return await get_user(rt, env, await resolve_user_id(rt, env, identifier))
