"""Applications: the OAuth clients of an environment (spec section 2).

An application has a ``client_id`` (unique across the server), a secret when it is
confidential (``secret_required``: 256 random bits, stored only as a SHA-256 hash, shown once
when created or rotated), exact ``redirect_uris``, the ``grant_types`` it may use, the lifetime
and format of its access tokens, whether it gets refresh tokens, whether it is first-party,
and an optional TOTP override for the authenticators enrolled for it.

Rules across fields, checked whenever an application is created or changed:

- ``client_credentials`` needs ``secret_required=true`` (a public client cannot prove who it
  is);
- ``authorization_code`` needs at least one redirect URI, except on the environment's default
  application, whose code flow ends on this server's own hosted pages;
- ``refresh_token`` (the grant) needs ``refresh_token=true`` (the tokens it redeems must be
  issued) and the ``authorization_code`` grant (refresh tokens are issued only by the code
  flow: never to ``client_credentials``, RFC 6749 4.4.3). ``refresh_token=true`` without the
  grant is allowed and issues nothing: refresh tokens go only to clients with both.

Turning ``secret_required`` off forgets the secret; turning it on leaves the application
without one until its secret is rotated (``rotate_secret``).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from twostep.crypto import hash_api_key, new_api_key
from twostep.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from twostep.identifiers import field_errors
from twostep.policy import TotpOverride
from twostep.services.audit import audit
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories import applications as repo
from twostep.storage.repositories.applications import ApplicationRecord, TokenFormat
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.sessions import revoke_client_sessions

__all__ = [
    "BAD_CLIENT",
    "CLIENT_ID_PATTERN",
    "DEFAULT_NOT_DELETABLE",
    "GRANT_TYPES",
    "LOOPBACK_HOSTS",
    "MAX_REDIRECT_URIS",
    "MAX_REDIRECT_URI_LENGTH",
    "PUBLIC_APPLICATION",
    "SECRET_PREFIX",
    "UNKNOWN_APPLICATION",
    "AccessTokenExpiration",
    "ApplicationName",
    "ApplicationPage",
    "ApplicationSettings",
    "ClientId",
    "GrantType",
    "GrantTypes",
    "IssuedSecret",
    "RedirectUri",
    "RedirectUris",
    "authenticate_client",
    "create_application",
    "delete_application",
    "get_application",
    "list_applications",
    "rotate_secret",
    "update_application",
]

CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]
SECRET_PREFIX = "tsc"  # noqa: S105 - the prefix of client secrets, not one
MAX_REDIRECT_URIS = 20
MAX_REDIRECT_URI_LENGTH = 2000
# http is only for a native app's or a developer's own machine (RFC 8252 7.3).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# ``<domain>-sandbox`` and ``<domain>-production`` are the default applications' client ids:
# taking one would block the creation of the organization with that domain.
_RESERVED_SUFFIXES = ("-sandbox", "-production")

UNKNOWN_APPLICATION = "Unknown application."
DEFAULT_NOT_DELETABLE = "The default application cannot be deleted."
PUBLIC_APPLICATION = "This application is public (secret_required is false): it has no secret."
BAD_CLIENT = "The client is unknown or its secret is wrong."

_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
# What a client id or a secret can be at all: anything else is answered as unknown, unread.
_CLIENT_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,200}")
# Compared against when there is no stored hash, so an unknown client costs what a wrong
# secret costs.
_NO_SECRET_HASH = hash_api_key(f"{SECRET_PREFIX}_none")


def _client_id(value: str) -> str:
    if value.endswith(_RESERVED_SUFFIXES):
        raise ValueError("client ids ending in -sandbox or -production are reserved")
    return value


def _redirect_uri(value: str) -> str:
    """An exact absolute https URL, or http on a loopback host; no fragment, no wildcard."""
    if _WHITESPACE_OR_CONTROL.search(value) or "\\" in value:
        raise ValueError("must not contain spaces, backslashes or control characters")
    if not value.isascii():
        raise ValueError("must be ASCII (percent-encode other characters)")
    if "*" in value:
        raise ValueError("must be an exact URL: no wildcards")
    if "#" in value:
        raise ValueError("must not have a fragment")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise ValueError("must be an absolute URL") from None
    if not parts.scheme or not parts.netloc or not host:
        raise ValueError("must be an absolute URL")
    if "@" in parts.netloc:
        raise ValueError("must not contain user information")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http":
        if host in LOOPBACK_HOSTS:
            return value
        raise ValueError("http is allowed only for localhost, 127.0.0.1 and [::1]")
    raise ValueError("must be an https URL")


_T = TypeVar("_T")


def _unique(values: list[_T]) -> list[_T]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


ClientId = Annotated[str, StringConstraints(pattern=CLIENT_ID_PATTERN), AfterValidator(_client_id)]
ApplicationName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
RedirectUri = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_REDIRECT_URI_LENGTH),
    AfterValidator(_redirect_uri),
]
RedirectUris = Annotated[
    list[RedirectUri], Field(max_length=MAX_REDIRECT_URIS), AfterValidator(_unique)
]
GrantTypes = Annotated[
    list[GrantType], Field(min_length=1, max_length=len(GRANT_TYPES)), AfterValidator(_unique)
]
AccessTokenExpiration = Annotated[int, Field(ge=60, le=86_400)]


class ApplicationSettings(BaseModel):
    """What a client may set on an application, with the defaults of a new one."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: ApplicationName
    redirect_uris: RedirectUris = []
    grant_types: GrantTypes = ["authorization_code", "refresh_token"]
    secret_required: bool = False
    access_token_expiration: AccessTokenExpiration = 3600
    token_format: TokenFormat = "jwt"  # noqa: S105 - a format name
    refresh_token: bool = True
    first_party: bool = True
    totp_override: TotpOverride | None = None

    def columns(self, names: set[str] | frozenset[str]) -> dict[str, Any]:
        """The named settings as column values (an empty TOTP override is stored as none)."""
        values: dict[str, Any] = {}
        for name in names:
            if name == "totp_override":
                override = self.totp_override
                dumped = {} if override is None else override.model_dump(exclude_none=True)
                values[name] = dumped or None
            else:
                value = getattr(self, name)
                values[name] = list(value) if isinstance(value, list) else value
        return values


_SETTING_NAMES = frozenset(ApplicationSettings.model_fields)
_CLIENT_ID = TypeAdapter(ClientId)


@dataclass(frozen=True, slots=True)
class ApplicationPage:
    data: list[ApplicationRecord]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """An application with the secret just issued for it: the only time it is shown."""

    application: ApplicationRecord
    client_secret: str | None


def _error(field: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": kind}


def _cross_field_errors(settings: ApplicationSettings, *, is_default: bool) -> list[dict[str, Any]]:
    """The rules between fields of the module docstring, each naming the field to change."""
    grants = set(settings.grant_types)
    errors: list[dict[str, Any]] = []
    if "client_credentials" in grants and not settings.secret_required:
        errors.append(
            _error(
                "grant_types",
                "the client_credentials grant needs secret_required=true",
                "grant_needs_secret",
            )
        )
    if "authorization_code" in grants and not settings.redirect_uris and not is_default:
        errors.append(
            _error(
                "redirect_uris",
                "the authorization_code grant needs at least one redirect URI",
                "missing",
            )
        )
    if "refresh_token" in grants and not settings.refresh_token:
        errors.append(
            _error(
                "grant_types",
                "the refresh_token grant needs refresh_token=true",
                "grant_needs_refresh_token",
            )
        )
    if "refresh_token" in grants and "authorization_code" not in grants:
        errors.append(
            _error(
                "grant_types",
                "the refresh_token grant needs the authorization_code grant",
                "grant_needs_authorization_code",
            )
        )
    return errors


def _validated(
    data: Mapping[str, Any], *, is_default: bool, errors: list[dict[str, Any]] | None = None
) -> ApplicationSettings:
    """Settings from ``data``, or ValidationFailed with every error (plus ``errors``)."""
    errors = list(errors or [])
    try:
        settings = ApplicationSettings.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(errors=errors + field_errors(exc, "body")) from None
    errors += _cross_field_errors(settings, is_default=is_default)
    if errors:
        raise ValidationFailed(errors=errors)
    return settings


def _current(app: ApplicationRecord) -> dict[str, Any]:
    """An application's settings, as a body that would set them."""
    return {
        "name": app.name,
        "redirect_uris": list(app.redirect_uris),
        "grant_types": list(app.grant_types),
        "secret_required": app.secret_required,
        "access_token_expiration": app.access_token_expiration,
        "token_format": app.token_format,
        "refresh_token": app.refresh_token,
        "first_party": app.first_party,
        "totp_override": app.totp_override,
    }


def _new_secret() -> tuple[str, str]:
    """A client secret (256 random bits) and the hash it is stored as."""
    secret = new_api_key(SECRET_PREFIX)
    return secret, hash_api_key(secret)


async def create_application(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, values: Mapping[str, Any]
) -> IssuedSecret:
    """A new application; ``client_id`` is generated (``app-<random>``) when not given, ``name``
    defaults to the client id. The answer carries the secret when ``secret_required``."""
    values = dict(values)
    client_id = values.pop("client_id", None)
    errors: list[dict[str, Any]] = []
    if client_id is None:
        client_id = f"app-{secrets.token_hex(8)}"
    else:
        try:
            _CLIENT_ID.validate_python(client_id, strict=True)
        except ValidationError as exc:
            errors = field_errors(exc, "body", "client_id")
    if values.get("name") is None:
        values["name"] = client_id if isinstance(client_id, str) else "application"
    settings = _validated(values, is_default=False, errors=errors)
    columns = settings.columns(_SETTING_NAMES)
    secret = None
    if settings.secret_required:
        secret, columns["client_secret_hash"] = _new_secret()
    async with rt.db.transaction() as tx:
        try:
            app = await repo.insert_application(
                tx,
                environment_id=env.id,
                client_id=client_id,
                name=settings.name,
                is_default=False,
                now=rt.clock.now(),
                values={name: v for name, v in columns.items() if name != "name"},
            )
        except Conflict as exc:
            taken = _error("client_id", "already taken", "unique")
            raise Conflict(errors=[taken]) from exc
        await audit(
            tx,
            rt,
            actor,
            "application.create",
            "ok",
            environment_id=env.id,
            details={"client_id": client_id},
        )
    return IssuedSecret(app, secret)


async def list_applications(
    rt: Runtime, env: EnvironmentRecord, *, page: int, per_page: int
) -> ApplicationPage:
    """One page of the environment's applications, oldest (the default one) first."""
    async with rt.db.transaction() as tx:
        total = await repo.count_applications(tx, env.id)
        rows = await repo.list_applications(
            tx, env.id, offset=(page - 1) * per_page, limit=per_page
        )
    return ApplicationPage(rows, page, per_page, total)


async def get_application(rt: Runtime, env: EnvironmentRecord, client_id: str) -> ApplicationRecord:
    async with rt.db.transaction() as tx:
        app = await repo.get_application(tx, env.id, client_id)
    if app is None:
        raise NotFound(UNKNOWN_APPLICATION)
    return app


async def update_application(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    client_id: str,
    values: Mapping[str, Any],
) -> ApplicationRecord:
    """Change the given settings (PATCH: absent ones stay; ``totp_override: null`` removes the
    override; a list replaces the whole list). The result must pass every rule."""
    async with rt.db.transaction() as tx:
        # Locked: two concurrent changes, each valid alone, cannot make an invalid whole.
        app = await repo.get_application(tx, env.id, client_id, for_update=True)
        if app is None:
            raise NotFound(UNKNOWN_APPLICATION)
        settings = _validated({**_current(app), **values}, is_default=app.is_default)
        changes = settings.columns(set(values))
        if not settings.secret_required and app.client_secret_hash is not None:
            changes["client_secret_hash"] = None
        if changes:
            await repo.update_application(tx, env.id, client_id, changes, rt.clock.now())
        await audit(
            tx,
            rt,
            actor,
            "application.update",
            "ok",
            environment_id=env.id,
            details={"client_id": client_id, "fields": sorted(values)},
        )
        updated = await repo.get_application(tx, env.id, client_id)
    assert updated is not None
    return updated


async def delete_application(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, client_id: str
) -> None:
    """Delete an application with its authenticators, their recovery codes and the sessions
    its logins issued. The environment's default application cannot be deleted."""
    async with rt.db.transaction() as tx:
        app = await repo.get_application(tx, env.id, client_id, for_update=True)
        if app is None:
            raise NotFound(UNKNOWN_APPLICATION)
        if app.is_default:
            raise Conflict(DEFAULT_NOT_DELETABLE)
        await repo.delete_application(tx, env.id, client_id)
        await revoke_client_sessions(tx, env.id, client_id)
        await audit(
            tx,
            rt,
            actor,
            "application.delete",
            "ok",
            environment_id=env.id,
            details={"client_id": client_id},
        )


async def rotate_secret(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, client_id: str
) -> IssuedSecret:
    """A new secret for a confidential application; the old one stops working at once."""
    async with rt.db.transaction() as tx:
        app = await repo.get_application(tx, env.id, client_id, for_update=True)
        if app is None:
            raise NotFound(UNKNOWN_APPLICATION)
        if not app.secret_required:
            raise Conflict(PUBLIC_APPLICATION)
        secret, secret_hash = _new_secret()
        await repo.set_client_secret_hash(tx, env.id, client_id, secret_hash, rt.clock.now())
        await audit(
            tx,
            rt,
            actor,
            "application.secret.rotate",
            "ok",
            environment_id=env.id,
            details={"client_id": client_id},
        )
        rotated = await repo.get_application(tx, env.id, client_id)
    assert rotated is not None
    return IssuedSecret(rotated, secret)


async def authenticate_client(rt: Runtime, client_id: str, secret: str) -> ApplicationRecord:
    """The confidential application ``client_id`` if ``secret`` is its secret, else
    Unauthorized: an unknown client, a public one and a wrong secret are answered alike, and
    the hashes are compared in constant time."""
    app = None
    if _CLIENT_ID_SHAPE.fullmatch(client_id):
        async with rt.db.transaction() as tx:
            app = await repo.application_by_client_id(tx, client_id)
    expected = app.client_secret_hash if app is not None else None
    # A secret of a shape we never issue is hashed too (as something that matches nothing).
    given = hash_api_key(secret if _SECRET_SHAPE.fullmatch(secret) else "")
    matches = hmac.compare_digest(given, expected or _NO_SECRET_HASH)
    if app is None or expected is None or not app.secret_required or not matches:
        raise Unauthorized(BAD_CLIENT)
    return app
