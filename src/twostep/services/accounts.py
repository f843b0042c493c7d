"""Users of an environment, with their two-factor summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from twostep.errors import Conflict, IdentityNotVerified, NotFound, ValidationFailed
from twostep.identifiers import Email, Password, Phone, Username, field_errors
from twostep.services.audit import audit
from twostep.services.revocation import Reason, end_all_sessions
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import users as repo
from twostep.storage.repositories.applications import ApplicationRecord, find_application
from twostep.storage.repositories.authenticators import (
    AuthenticatorStatus,
    TwoFactorState,
    two_factor_states,
)
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.users import UserRecord, UserStatus

__all__ = [
    "Page",
    "TwoFactorSummary",
    "UserFields",
    "UserView",
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "require_application",
    "require_user",
    "sign_up_user",
    "update_user",
]


@dataclass(frozen=True, slots=True)
class TwoFactorSummary:
    enabled: bool
    totp_id: str | None
    status: AuthenticatorStatus | None
    enrolled_at: float | None
    recovery_codes_remaining: int
    drift_s: int = 0


@dataclass(frozen=True, slots=True)
class UserView:
    user: UserRecord
    two_factor: TwoFactorSummary


@dataclass(frozen=True, slots=True)
class Page:
    data: list[UserView]
    page: int
    per_page: int
    total: int


async def require_user(tx: Tx, env: EnvironmentRecord, user_id: str) -> UserRecord:
    user = await repo.get_user(tx, env.id, user_id)
    if user is None:
        raise NotFound("Unknown user.")
    return user


async def require_application(
    tx: Tx, env: EnvironmentRecord, client_id: str | None
) -> ApplicationRecord:
    app = await find_application(tx, env.id, client_id)
    if app is None:
        raise NotFound("Unknown application.")
    return app


async def _views(tx: Tx, users: list[UserRecord], app: ApplicationRecord) -> list[UserView]:
    """Users with their two-factor summaries for ``app``, read in one query."""
    states = await two_factor_states(tx, [user.id for user in users], app.id)
    return [UserView(user, _summary(states.get(user.id))) for user in users]


def _summary(state: TwoFactorState | None) -> TwoFactorSummary:
    if state is None:
        return TwoFactorSummary(False, None, None, None, 0)
    active = state.status == "active"
    return TwoFactorSummary(
        active,
        state.authenticator_id,
        state.status,
        state.activated_at,
        state.recovery_codes_left if active else 0,
        state.drift_s,
    )


@with_config(ConfigDict(extra="forbid", strict=True))
class UserFields(TypedDict, total=False):
    """A user's fields as the services take them: a key given is set (None clears it, and a
    password of None removes the password); a key left out stays as it is."""

    email: Email | None
    username: Username | None
    phone: Phone | None
    password: Password | None
    status: UserStatus


_USER_FIELDS = TypeAdapter(UserFields)

_NO_IDENTIFIER = "A user needs an email, a username or a phone number."
_NO_IDENTIFIER_ERROR = {
    "loc": ["body"],
    "msg": "email, username or phone required",
    "type": "missing",
}


def _checked(values: Mapping[str, Any]) -> UserFields:
    """``values`` by the identifier rules (whoever calls: the API, the CLI, a sign-up), with the
    email lower-cased: emails are matched case-insensitively, so they are stored lower-cased."""
    try:
        fields = _USER_FIELDS.validate_python(dict(values))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors(exc)) from None
    email = fields.get("email")
    if email:
        fields["email"] = email.lower()
    return fields


async def _columns(rt: Runtime, fields: UserFields) -> dict[str, Any]:
    """The row's columns for ``fields``: a password becomes its argon2id hash."""
    columns: dict[str, Any] = {name: value for name, value in fields.items() if name != "password"}
    if "password" in fields:
        password = fields["password"]
        columns["password_hash"] = (
            None if password is None else await rt.passwords.hash_async(password)
        )
    return columns


async def create_user(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, values: UserFields | Mapping[str, Any]
) -> UserView:
    """A new user (``status`` active unless given); it needs an email, a username or a phone."""
    if not (values.get("email") or values.get("username") or values.get("phone")):
        raise ValidationFailed(_NO_IDENTIFIER, errors=[_NO_IDENTIFIER_ERROR])
    columns = await _columns(rt, _checked(values))
    columns.setdefault("status", "active")
    async with rt.db.transaction() as tx:
        user_id = await repo.insert_user(
            tx, environment_id=env.id, values=columns, now=rt.clock.now()
        )
        await audit(tx, rt, actor, "user.create", "ok", environment_id=env.id, user_id=user_id)
        user = await require_user(tx, env, user_id)
        app = await require_application(tx, env, None)
        return (await _views(tx, [user], app))[0]


async def get_user(
    rt: Runtime, env: EnvironmentRecord, user_id: str, client_id: str | None = None
) -> UserView:
    async with rt.db.transaction() as tx:
        user = await require_user(tx, env, user_id)
        app = await require_application(tx, env, client_id)
        return (await _views(tx, [user], app))[0]


async def list_users(
    rt: Runtime, env: EnvironmentRecord, *, page: int, per_page: int, q: str | None = None
) -> Page:
    """One page of the environment's users, oldest first; ``q`` keeps those whose email,
    username or phone contains it (case-insensitive)."""
    q = (q or "").strip() or None
    async with rt.db.transaction() as tx:
        app = await require_application(tx, env, None)
        total = await repo.count_users(tx, env.id, q)
        rows = await repo.list_users(tx, env.id, offset=(page - 1) * per_page, limit=per_page, q=q)
        data = await _views(tx, rows, app)
    return Page(data, page, per_page, total)


async def update_user(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    user_id: str,
    values: UserFields | Mapping[str, Any],
) -> UserView:
    """Set the fields given; a change of trust (disabled, password) ends the user's sessions."""
    columns = await _columns(rt, _checked(values))
    async with rt.db.transaction() as tx:
        if columns and not await repo.update_user(tx, env.id, user_id, columns, rt.clock.now()):
            raise NotFound("Unknown user.")
        user = await require_user(tx, env, user_id)
        if not (user.email or user.username or user.phone):
            raise ValidationFailed(_NO_IDENTIFIER, errors=[_NO_IDENTIFIER_ERROR])
        await audit(tx, rt, actor, "user.update", "ok", environment_id=env.id, user_id=user_id)
        reason = _trust_change(columns)
        if reason is not None:
            await end_all_sessions(
                tx, rt, actor, environment_id=env.id, user_id=user_id, reason=reason
            )
        app = await require_application(tx, env, None)
        return (await _views(tx, [user], app))[0]


def _trust_change(values: dict[str, Any]) -> Reason | None:
    """Why a change ends the user's sessions (spec 3b.8), if it does."""
    if values.get("status") == "disabled":
        return "user_disabled"
    if "password_hash" in values:  # set, changed or removed: sessions it opened end
        return "password_change"
    return None


async def delete_user(rt: Runtime, actor: Actor, env: EnvironmentRecord, user_id: str) -> None:
    async with rt.db.transaction() as tx:
        if not await repo.delete_user(tx, env.id, user_id):
            raise NotFound("Unknown user.")
        await audit(tx, rt, actor, "user.delete", "ok", environment_id=env.id, user_id=user_id)


_BAD_IDENTIFIER = "The user identifier is not a valid email or username."


async def sign_up_user(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, identifier: str, *, proven: str | None
) -> UserRecord:
    """The user a sign-up registers an authenticator for (spec 3b.3): ``proven`` (the user the
    journey already authenticated, if any) when the identifier names them, else a new user for
    an unknown email or username. Any other existing user is IdentityNotVerified, by one path
    whether or not they have an authenticator, so neither the answer nor its time tells."""
    identifier = identifier.strip()
    is_email = "@" in identifier
    limit = 320 if is_email else 150
    if not identifier or len(identifier) > limit or not identifier.isprintable():
        raise ValidationFailed(_BAD_IDENTIFIER)
    async with rt.db.transaction() as tx:
        user = await repo.find_user_by_identifier(tx, env.id, identifier)
    if user is not None and user.id == proven:
        return user
    if user is not None or proven is not None:
        # Someone else's account; or a new one while the journey has proven another user.
        raise IdentityNotVerified()
    try:
        fields: UserFields = {"email": identifier} if is_email else {"username": identifier}
        return (await create_user(rt, actor, env, fields)).user
    except Conflict:
        # Created by a concurrent request between the lookup and the insert: not ours either.
        raise IdentityNotVerified() from None
    except ValidationFailed as exc:  # the identifier rules, told as the sign-up's own text
        raise ValidationFailed(_BAD_IDENTIFIER, errors=exc.errors) from None
