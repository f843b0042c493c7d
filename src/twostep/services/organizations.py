"""Organizations, their environments, API keys and auth config."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from twostep.crypto import api_key_prefix, hash_api_key, new_api_key
from twostep.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from twostep.identifiers import Domain, EmailDomain, PrintableName, field_errors
from twostep.policy import AuthConfig, apply_patch
from twostep.services.audit import audit
from twostep.services.events import emit
from twostep.services.runtime import Actor, Runtime
from twostep.services.webhooks import check_endpoint, signing_key
from twostep.storage import Tx
from twostep.storage.repositories import organizations as repo
from twostep.storage.repositories.applications import find_application, insert_application
from twostep.storage.repositories.organizations import (
    ApiKeyRecord,
    EnvironmentRecord,
    OrganizationRecord,
    Principal,
)

__all__ = [
    "ENVIRONMENTS",
    "CreatedOrganization",
    "EnvironmentName",
    "EnvironmentSnapshot",
    "IssuedApiKey",
    "PrincipalCache",
    "authenticate",
    "create_api_key",
    "create_organization",
    "environment_by_id",
    "environment_for",
    "fresh_environment",
    "get_auth_config",
    "get_organization",
    "issue_api_key",
    "list_api_keys",
    "patch_auth_config",
    "principal_by_key_id",
    "public_environment",
    "revoke_api_key",
]

EnvironmentName = Literal["sandbox", "production"]
ENVIRONMENTS: tuple[EnvironmentName, ...] = ("sandbox", "production")
_KEY_PREFIX = {"sandbox": "ts_sandbox", "production": "ts_prod", None: "ts_admin"}


@dataclass(frozen=True, slots=True)
class CreatedOrganization:
    organization: OrganizationRecord
    api_keys: dict[str, str]


@with_config(ConfigDict(extra="forbid", strict=True))
class _NewOrganization(TypedDict):
    name: PrintableName
    domain: Domain
    email_domains: Annotated[list[EmailDomain], Field(max_length=50)]


_NEW_ORGANIZATION = TypeAdapter(_NewOrganization)


def _check_organization(name: str, domain: str, email_domains: list[str]) -> None:
    """The identifier rules of a new organization (the API's, the CLI's), or ValidationFailed."""
    try:
        _NEW_ORGANIZATION.validate_python(
            {"name": name, "domain": domain, "email_domains": email_domains}
        )
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors(exc)) from None


async def create_organization(
    rt: Runtime, actor: Actor, *, name: str, domain: str, email_domains: list[str]
) -> CreatedOrganization:
    """An organization with its two environments, a default application and one key each."""
    _check_organization(name, domain, email_domains)
    now = rt.clock.now()
    keys: dict[str, str] = {}
    async with rt.db.transaction() as tx:
        org = await repo.insert_organization(
            tx, domain=domain, name=name, email_domains=email_domains, now=now
        )
        for env_name in ENVIRONMENTS:
            env_id = await repo.insert_environment(
                tx, organization_id=org.id, name=env_name, auth_config="{}", now=now
            )
            await insert_application(
                tx,
                environment_id=env_id,
                client_id=f"{domain}-{env_name}",
                name=f"{name} ({env_name})",
                is_default=True,
                now=now,
            )
            issued = await _issue_key(tx, env_id, env_name, label="initial", now=now)
            keys[env_name] = issued.secret
            await audit(tx, rt, actor, "organization.create", "ok", environment_id=env_id)
    return CreatedOrganization(org, keys)


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new key: what the list shows of it, and its secret, shown this once."""

    key: ApiKeyRecord
    secret: str


async def _issue_key(
    tx: Tx, env_id: str | None, env_name: str | None, *, label: str, now: float
) -> IssuedApiKey:
    secret = new_api_key(_KEY_PREFIX[env_name])
    record = await repo.insert_api_key(
        tx,
        key_hash=hash_api_key(secret),
        prefix=api_key_prefix(secret),
        environment_id=env_id,
        label=label,
        now=now,
    )
    return IssuedApiKey(record, secret)


async def _create_key(
    tx: Tx, rt: Runtime, actor: Actor, env: EnvironmentRecord | None, name: str
) -> IssuedApiKey:
    env_id = None if env is None else env.id
    issued = await _issue_key(
        tx, env_id, None if env is None else env.name, label=name, now=rt.clock.now()
    )
    details = {"key_id": issued.key.id, "name": name, "prefix": issued.key.prefix}
    await audit(tx, rt, actor, "api_key.create", "ok", environment_id=env_id, details=details)
    return issued


async def create_api_key(
    rt: Runtime, actor: Actor, *, domain: str | None, environment: str | None, label: str
) -> str:
    """A new key for an environment, or a server-admin key when ``domain`` is None."""
    async with rt.db.transaction() as tx:
        env = None
        if domain is not None:
            env = await repo.get_environment(tx, domain, environment or "production")
            if env is None:
                raise NotFound("Unknown organization or environment.")
        return (await _create_key(tx, rt, actor, env, label)).secret


async def issue_api_key(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, name: str
) -> IssuedApiKey:
    """A new key of the environment, named ``name``; its secret is in this answer only."""
    async with rt.db.transaction() as tx:
        return await _create_key(tx, rt, actor, env, name)


async def list_api_keys(rt: Runtime, env: EnvironmentRecord) -> list[ApiKeyRecord]:
    """The environment's keys, revoked ones included, newest first: never a secret."""
    async with rt.db.transaction() as tx:
        return await repo.list_api_keys(tx, env.id)


async def revoke_api_key(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    key_id: str,
    *,
    cache: PrincipalCache | None = None,
) -> ApiKeyRecord:
    """Revoke one of the environment's keys (a key may revoke itself); NotFound for any
    other id. It fails at once here (``cache`` is this node's) and within the cache's TTL
    on every other node."""
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        found = await repo.revoke_api_key(tx, env.id, key_id, now)
        if found is None:
            raise NotFound("Unknown API key.")
        revoked, changed = found
        details = {"key_id": key_id, "name": revoked.name, "prefix": revoked.prefix}
        await audit(tx, rt, actor, "api_key.revoke", "ok", environment_id=env.id, details=details)
        if changed:  # revoked by this call, not before it
            event = {"key_id": key_id, "name": revoked.name, "prefix": revoked.prefix}
            await emit(tx, rt, env.id, "api_key.revoked", event)
    if cache is not None:
        cache.drop_key(key_id)
    return revoked


async def get_organization(rt: Runtime, principal: Principal, domain: str) -> OrganizationRecord:
    async with rt.db.transaction() as tx:
        org = await repo.get_organization(tx, domain)
    if org is None:
        raise NotFound("Unknown organization.")
    if principal.environment is not None and principal.environment.organization_id != org.id:
        raise Forbidden()
    return org


class PrincipalCache:
    """API key hash -> principal, for a few seconds: a cache, so revocation lags by its TTL, and
    the principal's environment is an ``EnvironmentSnapshot`` as old as its entry."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, key_hash: str, now: float) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < now:
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal, now: float) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (now + self.ttl_s, principal)

    def drop_key(self, key_id: str) -> None:
        """Forget a key (revoked here): this node refuses it from the next request on."""
        for key_hash, (_, principal) in list(self._entries.items()):
            if principal.key_id == key_id:
                del self._entries[key_hash]

    def clear(self) -> None:
        self._entries.clear()


async def authenticate(rt: Runtime, cache: PrincipalCache, api_key: str | None) -> Principal:
    """The principal of a bearer API key, or Unauthorized."""
    if not api_key:
        raise Unauthorized()
    key_hash = hash_api_key(api_key)
    now = rt.clock.now()
    principal = cache.get(key_hash, now)
    if principal is None:
        async with rt.db.transaction() as tx:
            principal = await repo.find_principal(tx, key_hash)
            # Noted on a cache miss, and written at most once a minute per key: the hot
            # path never writes on every request.
            if principal is not None and _stale(principal.last_used_at, now):
                await repo.note_key_use(tx, principal.key_id, now=now, every_s=_NOTE_USE_EVERY_S)
        if principal is None:
            raise Unauthorized()
        cache.put(key_hash, principal, now)
    return principal


_NOTE_USE_EVERY_S = 60.0


def _stale(last_used_at: float | None, now: float) -> bool:
    return last_used_at is None or last_used_at <= now - _NOTE_USE_EVERY_S


async def principal_by_key_id(rt: Runtime, key_id: str) -> Principal | None:
    """Who a live (not revoked) API key speaks for, by its id: an admin console session
    re-checks it on every request, so revoking the key ends the session at once."""
    async with rt.db.transaction() as tx:
        return await repo.find_principal_by_key_id(tx, key_id)


# What a request acts on: an environment as read when its API key was looked up, which the
# principal cache serves for up to its TTL. Good for routing and most rules; a decision that
# must see the latest auth config reads ``fresh_environment`` inside its transaction.
EnvironmentSnapshot: TypeAlias = EnvironmentRecord


async def environment_for(
    rt: Runtime, principal: Principal, domain: str, requested: str | None
) -> EnvironmentSnapshot:
    """The environment a request acts on (a snapshot): the key's own; an admin key picks one
    (production)."""
    if principal.environment is not None:
        env = principal.environment
        if env.organization_domain != domain or (requested and requested != env.name):
            raise Forbidden()
        return env
    async with rt.db.transaction() as tx:
        found = await repo.get_environment(tx, domain, requested or "production")
    if found is None:
        raise NotFound("Unknown organization or environment.")
    return found


async def public_environment(
    rt: Runtime, domain: str, name: str = "production"
) -> tuple[EnvironmentRecord, str]:
    """An environment named in a public URL (the hosted pages' ``?org=&env=``), and the
    client_id of its default application."""
    async with rt.db.transaction() as tx:
        env = await repo.get_environment(tx, domain, name)
        app = None if env is None else await find_application(tx, env.id, None)
    if env is None or app is None:
        raise NotFound("Unknown organization or environment.")
    return env, app.client_id


async def environment_by_id(rt: Runtime, environment_id: str) -> EnvironmentRecord:
    async with rt.db.transaction() as tx:
        env = await repo.get_environment_by_id(tx, environment_id)
    if env is None:
        raise NotFound("Unknown organization or environment.")
    return env


async def fresh_environment(
    tx: Tx, env: EnvironmentRecord, *, for_update: bool = False
) -> EnvironmentRecord:
    """``env`` as the store holds it now, read in ``tx`` (``for_update`` locks its row): for a
    decision that must see the latest auth config. The record a request carries (from
    ``environment_for``, the principal cache) may be a few seconds old."""
    fresh = await repo.get_environment(tx, env.organization_domain, env.name, for_update=for_update)
    if fresh is None:
        raise NotFound("Unknown organization or environment.")
    return fresh


def _shown(rt: Runtime, env: EnvironmentRecord, config: AuthConfig) -> dict[str, Any]:
    """The config as admins read it: with the webhook's (derived, read-only) signing key."""
    document: dict[str, Any] = config.model_dump(mode="json")
    if config.delivery.webhook is not None:
        document["delivery"]["webhook"]["signing_key"] = signing_key(rt, env)
    return document


def _without_read_only(patch: Any) -> Any:
    """``patch`` without ``delivery.webhook.signing_key``, which a client may send back.

    The key is derived, not configured: whatever value comes is ignored (and not stored).
    ``patch`` itself is left as it is.
    """
    if not isinstance(patch, dict):
        return patch
    delivery = patch.get("delivery")
    if not isinstance(delivery, dict):
        return patch
    webhook = delivery.get("webhook")
    if not isinstance(webhook, dict) or "signing_key" not in webhook:
        return patch
    webhook = {name: value for name, value in webhook.items() if name != "signing_key"}
    delivery = {name: value for name, value in delivery.items() if name != "webhook"}
    if webhook:  # an object holding only the key would otherwise create an empty webhook
        delivery["webhook"] = webhook
    return {**patch, "delivery": delivery}


async def get_auth_config(rt: Runtime, env: EnvironmentRecord) -> dict[str, Any]:
    """The environment's auth config as JSON, with ``delivery.webhook.signing_key`` if set."""
    async with rt.db.transaction() as tx:
        fresh = await fresh_environment(tx, env)
    return _shown(rt, env, fresh.config)


async def patch_auth_config(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, patch: Any
) -> dict[str, Any]:
    """Apply a JSON merge patch (RFC 7396), validated against spec section 4; the new config.

    ``delivery.webhook.signing_key`` is read-only: a patch may carry it, it is ignored.
    """
    # The webhook endpoint is resolved before the transaction (DNS may take seconds); a
    # concurrent patch can only keep an endpoint that its own check admitted.
    await check_endpoint(rt, apply_patch(env.config, _without_read_only(patch)))
    async with rt.db.transaction() as tx:
        fresh = await fresh_environment(tx, env, for_update=True)
        config = apply_patch(fresh.config, _without_read_only(patch))
        stored = json.dumps(config.model_dump(mode="json"), sort_keys=True)
        await repo.set_auth_config(tx, env.id, stored)
        await audit(tx, rt, actor, "auth_config.update", "ok", environment_id=env.id)
    return _shown(rt, env, config)
