"""The token-side endpoints' protocol (RFC 6749 2.3 and 4-6, RFC 6750, 7009, 7662): client
authentication, grant dispatch, userinfo, revocation and introspection. ``web/oauth.py`` reads
the HTTP request, calls these and writes the answer; nothing here knows HTTP."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from twostep.errors import TwostepError
from twostep.oauth.authorize import InvalidClientRequest, load_client
from twostep.oauth.codes import redeem_code
from twostep.oauth.discovery import GRANT_TYPES
from twostep.oauth.errors import OAuthError
from twostep.oauth.introspection import introspect, revoke, verify_access_token
from twostep.oauth.minting import TokenPolicy, client_credentials_tokens, mint_tokens
from twostep.oauth.refresh import refresh
from twostep.oauth.tokens import TokenSet, user_claims
from twostep.services.accounts import get_user
from twostep.services.applications import authenticate_client
from twostep.services.organizations import environment_by_id
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.applications import ApplicationRecord
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = [
    "Form",
    "authenticate",
    "bearer_token",
    "grant_tokens",
    "introspection",
    "issuer",
    "revocation",
    "userinfo",
]

Form = dict[str, str]


def issuer(rt: Runtime) -> str:
    """The issuer this server signs as (``iss``), its base URL."""
    return rt.settings.resolved_base_url


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "The Basic credentials are malformed.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "The Basic credentials are malformed.")
    # RFC 6749 2.3.1: both are form-urlencoded before being joined.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def authenticate(
    rt: Runtime, authorization: str, form: Form
) -> tuple[ApplicationRecord, EnvironmentRecord]:
    """The calling application (RFC 6749 2.3): client_secret_basic (the ``Authorization``
    header), client_secret_post, or a public client (client_id alone, only for applications
    that have no secret)."""
    basic = _basic_credentials(authorization)
    if basic is not None and ("client_secret" in form):
        raise OAuthError("invalid_request", "Use one client authentication method.")
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret"))
    if basic is not None and form.get("client_id") not in (None, client_id):
        raise OAuthError("invalid_client", "The client_id does not match the credentials.")
    try:
        app, env = await load_client(rt, client_id)
    except InvalidClientRequest:
        raise OAuthError("invalid_client", "Client authentication failed.") from None
    if secret is not None:
        try:
            await authenticate_client(rt, client_id, secret)
        except TwostepError:
            raise OAuthError("invalid_client", "Client authentication failed.") from None
    elif app.secret_required:
        raise OAuthError("invalid_client", "This application must authenticate.")
    return app, env


async def grant_tokens(
    rt: Runtime, app: ApplicationRecord, env: EnvironmentRecord, form: Form, actor: Actor
) -> TokenSet:
    """The token endpoint (RFC 6749 4.1.3, 4.4, 6): ``authorization_code`` (with the PKCE
    verifier), ``refresh_token`` (rotated; a reused one revokes its family),
    ``client_credentials`` (confidential applications). A TwostepError of a service below
    (a user gone meanwhile) is the caller's to answer as invalid_grant."""
    grant_type = form.get("grant_type")
    if grant_type not in GRANT_TYPES:
        raise OAuthError("unsupported_grant_type", "Unknown grant_type.")
    if grant_type not in app.grant_types:
        raise OAuthError("unauthorized_client", f"This application may not use {grant_type}.")
    policy = TokenPolicy.of(app, issuer(rt))
    if grant_type == "authorization_code":
        grant = await redeem_code(
            rt,
            client_id=app.client_id,
            code=form.get("code", ""),
            redirect_uri=form.get("redirect_uri", ""),
            code_verifier=form.get("code_verifier", ""),
            actor=actor,
        )
        view = await get_user(rt, env, grant.user_id)
        return await mint_tokens(rt, env, grant, view.user, policy)
    if grant_type == "refresh_token":
        return await refresh(
            rt,
            client_id=app.client_id,
            refresh_token=form.get("refresh_token", ""),
            policy=policy,
            scope=form.get("scope"),
            actor=actor,
        )
    if not app.secret_required:
        raise OAuthError("unauthorized_client", "Only confidential applications may.")
    return await client_credentials_tokens(rt, env, app.client_id, form.get("scope", ""), policy)


def bearer_token(authorization: str) -> str:
    """The access token of an ``Authorization: Bearer`` header (RFC 6750 2.1)."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise OAuthError("invalid_token", "Send the access token as a Bearer token.")
    return value.strip()


async def userinfo(rt: Runtime, access_token: str) -> dict[str, Any]:
    """The signed-in user's claims, as the access token's scope allows (OIDC Core 5.3).
    A TwostepError (the user or environment gone) is the caller's to answer as invalid_token."""
    claims = await verify_access_token(rt, access_token)
    if claims.user_id is None or "openid" not in claims.scopes:
        raise OAuthError("insufficient_scope", "The token has no openid scope.")
    env = await environment_by_id(rt, claims.environment_id)
    view = await get_user(rt, env, claims.user_id)
    return user_claims(view.user, claims.scope)


async def revocation(rt: Runtime, app: ApplicationRecord, form: Form, actor: Actor) -> None:
    """RFC 7009: revoke an access or refresh token of the calling application (a refresh token
    takes its whole family); unknown tokens are fine."""
    await revoke(
        rt,
        app.client_id,
        form.get("token", ""),
        token_type_hint=form.get("token_type_hint"),
        actor=actor,
    )


async def introspection(
    rt: Runtime, app: ApplicationRecord, env: EnvironmentRecord, form: Form
) -> dict[str, Any]:
    """RFC 7662, for confidential applications: whether a token is active, and its claims."""
    if not app.secret_required:
        raise OAuthError("invalid_client", "Only confidential applications may introspect.")
    return await introspect(rt, form.get("token", ""), environment_id=env.id)
