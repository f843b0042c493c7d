"""OAuth 2.0 / OpenID Connect endpoints (spec 5): the authorization endpoint signs the user in
through the hosted ``login`` journey; the token, userinfo, revocation and introspection
endpoints answer in the shapes of RFC 6749, 6750, 7009 and 7662, not problem+json."""

from __future__ import annotations

import base64
import binascii
from contextlib import suppress
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from twostep.errors import NotAuthenticated, TwostepError
from twostep.journeys.runner import SignedIn, start_journey
from twostep.oauth import tokens
from twostep.oauth.authorize import (
    SCOPES,
    AuthorizationRequest,
    Decision,
    InvalidClientRequest,
    RefusedRequest,
    check_client,
    decide,
    error_redirect,
    load_client,
    parse_request,
    redirect_with,
)
from twostep.oauth.errors import OAuthError
from twostep.oauth.keys import ALGORITHM, jwks
from twostep.oauth.tokens import ACR_MFA, ACR_PWD
from twostep.services.accounts import get_user
from twostep.services.applications import authenticate_client
from twostep.services.authentication import read_session
from twostep.services.factors import proves_second_factor, second_factor_required
from twostep.services.organizations import environment_by_id
from twostep.services.runtime import Actor, Runtime, config_of, totp_enabled
from twostep.storage.repositories.applications import ApplicationRecord
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.sessions import UserSession
from twostep.web.client_address import end_user_actor
from twostep.web.deps import RuntimeDep
from twostep.web.pages.auth import SESSION_COOKIE, finish_answer, page_message

router = APIRouter(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def issuer(rt: Runtime) -> str:
    return rt.settings.resolved_base_url


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="twostep"'
    elif exc.status in (401, 403):
        headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    return JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)


def _actor(request: Request, name: str) -> Actor:
    return end_user_actor(request, name)


@router.get("/oauth/authorize")
async def authorize(request: Request, rt: RuntimeDep) -> Response:
    """The code flow with PKCE S256 (`state`, `nonce`, `prompt`, `max_age`, `acr_values`,
    `login_hint`). The client and its exact redirect URI are checked first: until both hold,
    errors are told on a page; after, they go back to that redirect URI (spec 3b.5)."""
    pairs = request.query_params.multi_items()
    try:
        app, env, redirect_uri = await check_client(rt, pairs)
        auth = parse_request(app, redirect_uri, pairs)
    except InvalidClientRequest as exc:
        return page_message(request, None, "The sign-in request is not valid", exc.description)
    except RefusedRequest as exc:
        return RedirectResponse(exc.location, status_code=303)
    session = None
    with suppress(NotAuthenticated):
        session = await read_session(rt, request.cookies.get(SESSION_COOKIE))
    try:
        decision = decide(auth, app, session, rt.clock.now())
        live = decision.signed_in
        if decision.issue and live is not None:
            if await _session_enough(rt, env, app, live):
                return await _issue_for_session(request, rt, env, auth, live)
            # Signed in with the password alone, but the user has a second factor: no single
            # sign-on around it, whichever application it belongs to.
            if "none" in auth.prompt:
                raise OAuthError("interaction_required", "The user's code is needed.")
            decision = Decision(issue=False, signed_in=live, vars=decision.vars)
    except OAuthError as exc:
        return RedirectResponse(error_redirect(auth.redirect_uri, exc, auth.state), status_code=303)
    signed_in = None
    if decision.signed_in is not None:
        s = decision.signed_in
        signed_in = SignedIn(s.user_id, s.amr, s.auth_time)
    answer = await start_journey(
        rt,
        _actor(request, "journey"),
        "login",
        app.client_id,
        {"login_hint": auth.login_hint} if auth.login_hint else {},
        signed_in=signed_in,
        vars=decision.vars,
        oauth=auth.as_state(),
    )
    return await finish_answer(request, answer)


async def _session_enough(
    rt: Runtime, env: EnvironmentRecord, app: ApplicationRecord, session: UserSession
) -> bool:
    """Whether a session may sign the user in to ``app`` as it is: it proved a second factor,
    or the user has none in the environment (spec 3b.1) and the environment enforces none."""
    if proves_second_factor(session.amr):
        return True
    try:
        required = await second_factor_required(rt, env, session.user_id, app.client_id)
    except TwostepError:
        return False
    config = config_of(env.auth_config)
    enforced = config.totp.enforce and totp_enabled(rt.settings, config)
    return not required and not enforced


async def _issue_for_session(
    request: Request,
    rt: Runtime,
    env: EnvironmentRecord,
    auth: AuthorizationRequest,
    session: UserSession,
) -> Response:
    """A live session satisfies the request (SSO): a code at once, if the account still may."""
    try:
        view = await get_user(rt, env, session.user_id)
    except TwostepError:
        raise OAuthError("login_required", "The user is not signed in.") from None
    if not view.user.may_sign_in:
        raise OAuthError("access_denied", "The account may not sign in.")
    code = await tokens.issue_code(
        rt,
        env=env,
        client_id=auth.client_id,
        user_id=session.user_id,
        redirect_uri=auth.redirect_uri,
        code_challenge=auth.code_challenge,
        code_challenge_method=auth.code_challenge_method,
        nonce=auth.nonce,
        scope=auth.scope,
        amr=list(session.amr),
        auth_time=session.auth_time,
    )
    target = redirect_with(auth.redirect_uri, code=code, state=auth.state)
    return RedirectResponse(target, status_code=303)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
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


async def _client(
    request: Request, rt: Runtime, form: dict[str, str]
) -> tuple[ApplicationRecord, EnvironmentRecord]:
    """The calling application: client_secret_basic, client_secret_post, or a public client
    (client_id alone, only for applications that have no secret)."""
    basic = _basic_credentials(request)
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


async def _form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise OAuthError("invalid_request", "Send application/x-www-form-urlencoded.")
    form = await request.form()
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str) or name in values:
            raise OAuthError("invalid_request", f"{name} must be sent once, as text.")
        values[name] = value
    return values


@router.post("/oauth/token")
async def token(request: Request, rt: RuntimeDep) -> Response:
    """`authorization_code` (with the PKCE verifier), `refresh_token` (rotated; a reused one
    revokes its family), `client_credentials` (confidential applications)."""
    try:
        form = await _form(request)
        app, env = await _client(request, rt, form)
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
            raise OAuthError("unsupported_grant_type", "Unknown grant_type.")
        if grant_type not in app.grant_types:
            raise OAuthError("unauthorized_client", f"This application may not use {grant_type}.")
        actor = _actor(request, f"client:{app.client_id}")
        if grant_type == "authorization_code":
            grant = await tokens.redeem_code(
                rt,
                client_id=app.client_id,
                code=form.get("code", ""),
                redirect_uri=form.get("redirect_uri", ""),
                code_verifier=form.get("code_verifier", ""),
                actor=actor,
            )
            view = await get_user(rt, env, grant.user_id)
            issued = await tokens.mint_tokens(
                rt,
                env=env,
                client_id=app.client_id,
                user=view.user,
                grant=grant,
                access_token_expiration=app.access_token_expiration,
                token_format=app.token_format,
                with_refresh=app.refresh_token and "refresh_token" in app.grant_types,
                family=grant.family,
                issuer=issuer(rt),
            )
        elif grant_type == "refresh_token":
            issued = await tokens.refresh(
                rt,
                client_id=app.client_id,
                refresh_token=form.get("refresh_token", ""),
                access_token_expiration=app.access_token_expiration,
                token_format=app.token_format,
                issuer=issuer(rt),
                scope=form.get("scope"),
                actor=actor,
            )
        else:
            if not app.secret_required:
                raise OAuthError("unauthorized_client", "Only confidential applications may.")
            issued = await tokens.client_credentials_tokens(
                rt,
                env=env,
                client_id=app.client_id,
                scope=form.get("scope", ""),
                access_token_expiration=app.access_token_expiration,
                token_format=app.token_format,
                issuer=issuer(rt),
            )
    except OAuthError as exc:
        return _oauth_error(exc)
    except TwostepError:
        return _oauth_error(OAuthError("invalid_grant", "The grant is no longer valid."))
    return JSONResponse(issued.as_response(), headers=NO_STORE)


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise OAuthError("invalid_token", "Send the access token as a Bearer token.")
    return value.strip()


@router.api_route("/oauth/userinfo", methods=["GET", "POST"])
async def userinfo(request: Request, rt: RuntimeDep) -> Response:
    """The signed-in user's claims, as the access token's scope allows (OIDC Core 5.3)."""
    try:
        claims = await tokens.verify_access_token(rt, _bearer(request))
        if claims.user_id is None or "openid" not in claims.scopes:
            raise OAuthError("insufficient_scope", "The token has no openid scope.")
        env = await environment_by_id(rt, claims.environment_id)
        view = await get_user(rt, env, claims.user_id)
    except OAuthError as exc:
        return _oauth_error(exc)
    except TwostepError:
        return _oauth_error(OAuthError("invalid_token", "The access token is not valid."))
    return JSONResponse(tokens.user_claims(view.user, claims.scope), headers=NO_STORE)


@router.post("/oauth/revoke")
async def revoke(request: Request, rt: RuntimeDep) -> Response:
    """RFC 7009: revoke an access or refresh token of the calling application (a refresh token
    takes its whole family); unknown tokens are fine."""
    try:
        form = await _form(request)
        app, _ = await _client(request, rt, form)
        await tokens.revoke(
            rt,
            app.client_id,
            form.get("token", ""),
            token_type_hint=form.get("token_type_hint"),
            actor=_actor(request, f"client:{app.client_id}"),
        )
    except OAuthError as exc:
        return _oauth_error(exc)
    return Response(status_code=200, headers=NO_STORE)


@router.post("/oauth/introspect")
async def introspect(request: Request, rt: RuntimeDep) -> Response:
    """RFC 7662, for confidential applications: whether a token is active, and its claims."""
    try:
        form = await _form(request)
        app, env = await _client(request, rt, form)
        if not app.secret_required:
            raise OAuthError("invalid_client", "Only confidential applications may introspect.")
        body = await tokens.introspect(rt, form.get("token", ""), environment_id=env.id)
    except OAuthError as exc:
        return _oauth_error(exc)
    return JSONResponse(body, headers=NO_STORE)


@router.get("/.well-known/openid-configuration")
async def discovery(rt: RuntimeDep) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0."""
    base = issuer(rt)
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted(SCOPES),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "acr",
            "email",
            "preferred_username",
            "phone_number",
        ],
        "acr_values_supported": [ACR_PWD, ACR_MFA],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
    }


@router.get("/.well-known/jwks.json")
async def jwks_document(rt: RuntimeDep) -> Response:
    """The public signing keys: the current one, and retired ones until their tokens expire."""
    return JSONResponse(await jwks(rt), headers={"Cache-Control": "public, max-age=300"})
