"""The authorization endpoint's decisions (RFC 6749 4.1.1, OIDC Core 3.1.2): is the request
valid, may the browser be sent back to the client with an error, and what must the user do
first — nothing (a live session that satisfies it), a fresh code (step-up), a full login, or
their consent.

``sso`` turns the decision into a code at once; otherwise ``web/oauth.py`` starts a journey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from twostep.oauth.errors import OAuthError
from twostep.oauth.signin import AuthorizationRequest, error_redirect
from twostep.oauth.tokens import ACR_MFA, CODE_CHALLENGE
from twostep.services.factors import proves_second_factor
from twostep.services.runtime import Runtime
from twostep.storage.repositories.applications import ApplicationRecord, application_by_client_id
from twostep.storage.repositories.organizations import EnvironmentRecord, get_environment_by_id
from twostep.storage.repositories.sessions import UserSession

__all__ = [
    "MAX_STATE",
    "PARAMETERS",
    "PROMPTS",
    "SCOPES",
    "SENT_TWICE",
    "Decision",
    "InvalidClientRequest",
    "RefusedRequest",
    "check_client",
    "decide",
    "load_client",
    "parse_request",
]

SCOPES: Final = frozenset({"openid", "email", "profile", "phone", "offline_access"})
PROMPTS: Final = frozenset({"none", "login", "consent"})
MAX_STATE: Final = 1000
PARAMETERS: Final = frozenset(
    {
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "acr_values",
        "login_hint",
    }
)
SENT_TWICE: Final = "The client_id and the redirect_uri must each be sent once."


class InvalidClientRequest(Exception):
    """The client or its redirect URI is wrong: RFC 6749 4.1.2.1 forbids redirecting, the user
    is told on a page instead."""

    def __init__(self, description: str) -> None:
        self.description = description
        super().__init__(description)


class RefusedRequest(Exception):
    """An error to send back to the application: its client and exact redirect URI hold, so the
    browser may go there (RFC 6749 4.1.2.1), with the request's ``state``."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str | None) -> None:
        self.error = error
        self.location = error_redirect(redirect_uri, error, state)
        super().__init__(str(error))


@dataclass(frozen=True, slots=True)
class Decision:
    """``issue``: send a code now; ``journey``: the user has something to do first."""

    issue: bool
    signed_in: UserSession | None = None
    vars: dict[str, Any] = field(default_factory=dict)


async def load_client(
    rt: Runtime, client_id: str | None
) -> tuple[ApplicationRecord, EnvironmentRecord]:
    """The application named by ``client_id`` and its environment."""
    if not client_id:
        raise InvalidClientRequest("The client_id is missing.")
    if len(client_id) > 64 or not client_id.isprintable():
        # No stored client_id is longer or has control characters (PostgreSQL refuses NUL).
        raise InvalidClientRequest("The application (client_id) is not known.")
    async with rt.db.transaction() as tx:
        app = await application_by_client_id(tx, client_id)
        env = None if app is None else await get_environment_by_id(tx, app.environment_id)
    if app is None or env is None:
        raise InvalidClientRequest("The application (client_id) is not known.")
    return app, env


def _sent_once(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], set[str]]:
    """The parameters by name, and those of ours sent more than once (RFC 6749 3.1 forbids
    it; others, such as the pages' ``lang``, are not ours to judge)."""
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in params and name in PARAMETERS:
            repeated.add(name)
        params[name] = value
    return params, repeated


async def check_client(
    rt: Runtime, pairs: Sequence[tuple[str, str]]
) -> tuple[ApplicationRecord, EnvironmentRecord, str]:
    """The application, its environment and the registered redirect URI the request names,
    before anything else is read: until all three hold, InvalidClientRequest (a page)."""
    params, repeated = _sent_once(pairs)
    if repeated & {"client_id", "redirect_uri"}:
        raise InvalidClientRequest(SENT_TWICE)
    app, env = await load_client(rt, params.get("client_id"))
    return app, env, _redirect_uri(app, params.get("redirect_uri") or None)


def _redirect_uri(app: ApplicationRecord, given: str | None) -> str:
    """The registered URI the request names, compared exactly (no prefix, no normalizing)."""
    if given is None:
        if len(app.redirect_uris) == 1:
            return app.redirect_uris[0]
        raise InvalidClientRequest("The redirect_uri is missing.")
    if given not in app.redirect_uris:
        raise InvalidClientRequest("The redirect_uri is not registered for this application.")
    return given


def _one(params: dict[str, str], name: str, limit: int = 2000) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise OAuthError("invalid_request", f"{name} is too long.")
    return value


def parse_request(
    app: ApplicationRecord, redirect_uri: str, pairs: Sequence[tuple[str, str]]
) -> AuthorizationRequest:
    """Check an authorization request whose client and ``redirect_uri`` hold (``check_client``);
    RefusedRequest sends any error back to that URI."""
    params, repeated = _sent_once(pairs)
    # The state goes back with any error, so that the client can match it — unless it is
    # ambiguous (sent twice, differently) or too long to be one the client made.
    states = {value for name, value in pairs if name == "state"}
    state = states.pop() if len(states) == 1 else None
    state = state if state and len(state) <= MAX_STATE else None
    try:
        return _parse(app, redirect_uri, params, repeated)
    except OAuthError as exc:
        raise RefusedRequest(exc, redirect_uri, state) from None


def _parse(
    app: ApplicationRecord, redirect_uri: str, params: dict[str, str], repeated: set[str]
) -> AuthorizationRequest:
    if repeated:
        raise OAuthError("invalid_request", f"{sorted(repeated)[0][:40]} must be sent once.")
    if _one(params, "response_type") != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported.")
    if "authorization_code" not in app.grant_types:
        raise OAuthError("unauthorized_client", "This application may not use the code flow.")
    scope_text = _one(params, "scope", 1000) or ""
    scopes = scope_text.split()
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scope: {unknown[0][:50]}.")
    challenge = _one(params, "code_challenge", 200)
    if challenge is None:
        # PKCE is required of public clients (RFC 9700) and used by every client here.
        raise OAuthError("invalid_request", "PKCE is required: send code_challenge (S256).")
    if _one(params, "code_challenge_method", 10) != "S256":
        raise OAuthError("invalid_request", "Only code_challenge_method=S256 is supported.")
    if not CODE_CHALLENGE.fullmatch(challenge):
        # RFC 7636 4.2: refused here, not when the sign-in ends (a code could not be issued).
        raise OAuthError("invalid_request", "code_challenge must be an S256 challenge (RFC 7636).")
    prompt = tuple((_one(params, "prompt", 100) or "").split())
    if any(p not in PROMPTS for p in prompt) or ("none" in prompt and len(prompt) > 1):
        raise OAuthError("invalid_request", "prompt must be none, login or consent.")
    nonce = _one(params, "nonce", 500)
    if nonce is not None and not nonce.isprintable():
        raise OAuthError("invalid_request", "nonce must not have control characters.")
    max_age_text = _one(params, "max_age", 12)
    if max_age_text is not None and not (max_age_text.isascii() and max_age_text.isdigit()):
        raise OAuthError("invalid_request", "max_age must be a number of seconds.")
    return AuthorizationRequest(
        client_id=app.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(dict.fromkeys(scopes)),
        state=_one(params, "state", MAX_STATE),
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method="S256",
        prompt=prompt,
        max_age=None if max_age_text is None else int(max_age_text),
        acr_values=tuple((_one(params, "acr_values", 500) or "").split()),
        login_hint=_one(params, "login_hint", 320),
    )


def decide(
    request: AuthorizationRequest,
    app: ApplicationRecord,
    session: UserSession | None,
    now: float,
) -> Decision:
    """What the user must do before a code is issued; ``OAuthError`` for ``prompt=none``
    requests that would need them to do anything."""
    wants_mfa = ACR_MFA in request.acr_values
    needs_consent = not app.first_party or "consent" in request.prompt
    if session is not None and session.environment_id != app.environment_id:
        session = None  # a sign-in elsewhere says nothing here; one in the environment does (SSO)
    too_old = (
        session is not None
        and request.max_age is not None
        and now - session.auth_time >= request.max_age
    )
    fresh_login = session is None or "login" in request.prompt
    step_up = not fresh_login and (
        too_old or (wants_mfa and (session is None or not proves_second_factor(session.amr)))
    )
    vars = {
        "step_up": step_up,
        # max_age passed (OIDC Core 3.1.2.1): the sign-in time a new authentication must be
        # later than. A user without a second factor is asked the password again (the password
        # step reads this), one with it a fresh code; no code is issued without either.
        "reauthenticate_after": (
            session.auth_time if session is not None and too_old and not fresh_login else None
        ),
        "require_mfa": wants_mfa,
        "needs_consent": needs_consent,
    }
    if "none" in request.prompt:
        if session is None:
            raise OAuthError("login_required", "The user is not signed in.")
        if step_up:
            raise OAuthError("interaction_required", "A fresh sign-in is needed.")
        if needs_consent:
            raise OAuthError("consent_required", "The user has to consent first.")
        return Decision(issue=True, signed_in=session)
    if not fresh_login and not step_up and not needs_consent:
        return Decision(issue=True, signed_in=session)
    return Decision(issue=False, signed_in=None if fresh_login else session, vars=vars)
