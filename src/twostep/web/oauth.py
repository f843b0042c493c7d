"""OAuth 2.0 / OpenID Connect endpoints (spec 5), adapted to HTTP: the protocol is ``oauth/``'s
(``server``, ``sso``, ``discovery``). The authorization endpoint signs the user in through the
hosted ``login`` journey; the token, userinfo, revocation and introspection endpoints answer in
the shapes of RFC 6749, 6750, 7009 and 7662, not problem+json."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from twostep.errors import NotAuthenticated, TwostepError
from twostep.journeys.runner import SignedIn, start_journey
from twostep.oauth import server
from twostep.oauth.authorize import (
    InvalidClientRequest,
    RefusedRequest,
    check_client,
    parse_request,
)
from twostep.oauth.discovery import openid_configuration
from twostep.oauth.errors import OAuthError
from twostep.oauth.keys import jwks
from twostep.oauth.signin import CodeIssued
from twostep.oauth.sso import sign_in
from twostep.services.authentication import read_session
from twostep.services.runtime import Actor
from twostep.web.client_address import end_user_actor
from twostep.web.deps import RuntimeDep
from twostep.web.pages.devices import device_input
from twostep.web.pages.journey_pages import SESSION_COOKIE, finish_answer, page_message

__all__ = [
    "NO_STORE",
    "OAuthErrorOut",
    "authorize",
    "discovery",
    "introspect",
    "jwks_document",
    "revoke",
    "router",
    "token",
    "userinfo",
]

router = APIRouter(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthErrorOut(BaseModel):
    """An error of RFC 6749 section 5.2 (and RFC 6750 section 3.1): not problem+json."""

    error: str
    error_description: str | None = None


_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "An OAuth error (RFC 6749 5.2)", "model": OAuthErrorOut},
    401: {"description": "The client or token is not valid", "model": OAuthErrorOut},
}


def _form_body(required: list[str], example: dict[str, str]) -> dict[str, Any]:
    """The form these endpoints read by hand (``_form``), for the OpenAPI document."""
    schema = {
        "type": "object",
        "required": required,
        "additionalProperties": {"type": "string"},
        "examples": [example],
    }
    form = {"application/x-www-form-urlencoded": {"schema": schema}}
    return {"requestBody": {"required": True, "content": form}}


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="twostep"'
    elif exc.status in (401, 403):
        headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    return JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)


def _actor(request: Request, name: str) -> Actor:
    return end_user_actor(request, name)


@router.get("/oauth/authorize", operation_id="oauthAuthorize")
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
        decision = await sign_in(rt, env, app, auth, session)
    except OAuthError as exc:
        return RedirectResponse(auth.return_to.with_error(exc), status_code=303)
    if isinstance(decision, CodeIssued):
        return RedirectResponse(decision.location, status_code=303)
    signed_in = None
    if decision.signed_in is not None:
        s = decision.signed_in
        signed_in = SignedIn(s.user_id, s.amr, s.auth_time)
    answer = await start_journey(
        rt,
        _actor(request, "journey"),
        "login",
        app.client_id,
        # A trusted browser may answer the code step of single sign-on, as at the pages.
        {**device_input(request), **({"login_hint": auth.login_hint} if auth.login_hint else {})},
        signed_in=signed_in,
        vars=decision.vars,
        authorization=auth,
    )
    return await finish_answer(request, answer)


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


def _authorization(request: Request) -> str:
    return request.headers.get("authorization", "")


@router.post(
    "/oauth/token",
    operation_id="oauthToken",
    responses=_OAUTH_ERRORS,
    openapi_extra=_form_body(
        ["grant_type"],
        {
            "grant_type": "authorization_code",
            "code": "c0dE-from-the-redirect",
            "redirect_uri": "https://shop.example.com/callback",
            "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "client_id": "shop-web",
        },
    ),
)
async def token(request: Request, rt: RuntimeDep) -> Response:
    """`authorization_code` (with the PKCE verifier), `refresh_token` (rotated; a reused one
    revokes its family), `client_credentials` (confidential applications)."""
    try:
        form = await _form(request)
        app, env = await server.authenticate(rt, _authorization(request), form)
        actor = _actor(request, f"client:{app.client_id}")
        issued = await server.grant_tokens(rt, app, env, form, actor)
    except OAuthError as exc:
        return _oauth_error(exc)
    except TwostepError:
        return _oauth_error(OAuthError("invalid_grant", "The grant is no longer valid."))
    return JSONResponse(issued.as_response(), headers=NO_STORE)


# Two routes, not one with two methods: each operation needs its own operationId.
@router.get("/oauth/userinfo", operation_id="oauthUserinfo", responses=_OAUTH_ERRORS)
@router.post("/oauth/userinfo", operation_id="oauthUserinfoPost", responses=_OAUTH_ERRORS)
async def userinfo(request: Request, rt: RuntimeDep) -> Response:
    """The signed-in user's claims, as the access token's scope allows (OIDC Core 5.3)."""
    try:
        claims = await server.userinfo(rt, server.bearer_token(_authorization(request)))
    except OAuthError as exc:
        return _oauth_error(exc)
    except TwostepError:
        return _oauth_error(OAuthError("invalid_token", "The access token is not valid."))
    return JSONResponse(claims, headers=NO_STORE)


@router.post(
    "/oauth/revoke",
    operation_id="oauthRevoke",
    responses=_OAUTH_ERRORS,
    openapi_extra=_form_body(
        ["token"], {"token": "the-refresh-token", "token_type_hint": "refresh_token"}
    ),
)
async def revoke(request: Request, rt: RuntimeDep) -> Response:
    """RFC 7009: revoke an access or refresh token of the calling application (a refresh token
    takes its whole family); unknown tokens are fine."""
    try:
        form = await _form(request)
        app, _ = await server.authenticate(rt, _authorization(request), form)
        await server.revocation(rt, app, form, _actor(request, f"client:{app.client_id}"))
    except OAuthError as exc:
        return _oauth_error(exc)
    return Response(status_code=200, headers=NO_STORE)


@router.post(
    "/oauth/introspect",
    operation_id="oauthIntrospect",
    responses=_OAUTH_ERRORS,
    openapi_extra=_form_body(["token"], {"token": "the-access-token"}),
)
async def introspect(request: Request, rt: RuntimeDep) -> Response:
    """RFC 7662, for confidential applications: whether a token is active, and its claims."""
    try:
        form = await _form(request)
        app, env = await server.authenticate(rt, _authorization(request), form)
        body = await server.introspection(rt, app, env, form)
    except OAuthError as exc:
        return _oauth_error(exc)
    return JSONResponse(body, headers=NO_STORE)


@router.get("/.well-known/openid-configuration", operation_id="getOpenidConfiguration")
async def discovery(rt: RuntimeDep) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0."""
    return openid_configuration(server.issuer(rt))


@router.get("/.well-known/jwks.json", operation_id="getJwks")
async def jwks_document(rt: RuntimeDep) -> Response:
    """The public signing keys: the current one, and retired ones until their tokens expire."""
    return JSONResponse(await jwks(rt), headers={"Cache-Control": "public, max-age=300"})
