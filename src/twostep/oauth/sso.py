"""Single sign-on at the authorization endpoint: whether the browser's live session answers an
application's request at once, or the user has something to do first (a journey)."""

from __future__ import annotations

from twostep.errors import TwostepError
from twostep.oauth.authorize import Decision, decide
from twostep.oauth.errors import OAuthError
from twostep.oauth.signin import AuthorizationRequest, CodeIssued, issue_code_for
from twostep.services.accounts import get_user
from twostep.services.factors import proves_second_factor, second_factor_required
from twostep.services.runtime import Runtime, totp_enabled
from twostep.storage.repositories.applications import ApplicationRecord
from twostep.storage.repositories.organizations import EnvironmentRecord
from twostep.storage.repositories.sessions import UserSession

__all__ = ["session_enough", "sign_in"]


async def sign_in(
    rt: Runtime,
    env: EnvironmentRecord,
    app: ApplicationRecord,
    request: AuthorizationRequest,
    session: UserSession | None,
) -> CodeIssued | Decision:
    """A code at once, when the session satisfies the request (SSO); else what the journey
    must ask. OAuthError for a request that cannot go on (``prompt=none`` that needs the user,
    an account that may no longer sign in): its error goes back to the application."""
    decision = decide(request, app, session, rt.clock.now())
    live = decision.signed_in
    if not decision.issue or live is None:
        return decision
    if await session_enough(rt, env, app, live):
        return await _issue_for_session(rt, env, request, live)
    # Signed in with the password alone, but the user has a second factor: no single sign-on
    # around it, whichever application it belongs to.
    if "none" in request.prompt:
        raise OAuthError("interaction_required", "The user's code is needed.")
    return Decision(issue=False, signed_in=live, vars=decision.vars)


async def session_enough(
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
    config = env.config
    enforced = config.totp.enforce and totp_enabled(rt.settings, config)
    return not required and not enforced


async def _issue_for_session(
    rt: Runtime, env: EnvironmentRecord, request: AuthorizationRequest, session: UserSession
) -> CodeIssued:
    """A live session satisfies the request (SSO): a code at once, if the account still may."""
    try:
        view = await get_user(rt, env, session.user_id)
    except TwostepError:
        raise OAuthError("login_required", "The user is not signed in.") from None
    if not view.user.may_sign_in:
        raise OAuthError("access_denied", "The account may not sign in.")
    return await issue_code_for(
        rt, env, request, user_id=session.user_id, amr=session.amr, auth_time=session.auth_time
    )
