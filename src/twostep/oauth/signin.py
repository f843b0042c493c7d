"""An application's sign-in as a journey carries it: the checked authorization request, where
the browser goes back to, and the code the journey's end issues.

This is the one module of ``oauth/`` that ``journeys/`` imports (an import-linter contract):
a journey knows an OAuth sign-in only through these values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from twostep.oauth.codes import Authentication, CodeRequest, issue_code
from twostep.oauth.errors import OAuthError as OAuthError  # the journeys' seam
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = [
    "AuthorizationRequest",
    "CodeIssued",
    "OAuthError",
    "ReturnTo",
    "error_redirect",
    "issue_code_for",
    "redirect_with",
]


def redirect_with(uri: str, **params: str | None) -> str:
    """``uri`` with ``params`` added to its query (RFC 6749 4.1.2: keep its own query)."""
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_redirect(redirect_uri: str, error: OAuthError, state: str | None) -> str:
    """Where the browser takes ``error`` back to the application (RFC 6749 4.1.2.1)."""
    return redirect_with(
        redirect_uri, error=error.error, error_description=error.description or None, state=state
    )


@dataclass(frozen=True, slots=True)
class ReturnTo:
    """Where a sign-in sends the browser back: the application's registered redirect URI,
    with the request's ``state``."""

    redirect_uri: str
    state: str | None

    def with_code(self, code: str) -> str:
        """The redirect that hands ``code`` to the application (RFC 6749 4.1.2)."""
        return redirect_with(self.redirect_uri, code=code, state=self.state)

    def with_error(self, error: OAuthError) -> str:
        """The redirect that tells the application it got no code (RFC 6749 4.1.2.1)."""
        return error_redirect(self.redirect_uri, error, self.state)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked request, kept in the journey's state while the user signs in."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    login_hint: str | None = None

    @property
    def return_to(self) -> ReturnTo:
        """Where the browser goes back to, with a code or with an error."""
        return ReturnTo(self.redirect_uri, self.state)

    @property
    def code_request(self) -> CodeRequest:
        """What the code issued at the end of the sign-in is for."""
        return CodeRequest(
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            code_challenge=self.code_challenge,
            code_challenge_method=self.code_challenge_method,
            nonce=self.nonce,
            scope=self.scope,
        )


@dataclass(frozen=True, slots=True)
class CodeIssued:
    """The end of an application's sign-in: a code, and where the browser takes it."""

    code: str
    return_to: ReturnTo

    @property
    def location(self) -> str:
        """The redirect that hands the code to the application."""
        return self.return_to.with_code(self.code)

    def as_json(self) -> dict[str, Any]:
        """The members a journey's Success answer adds for an OAuth sign-in."""
        return {
            "authorization_code": self.code,
            "redirect_uri": self.return_to.redirect_uri,
            "state": self.return_to.state,
        }


async def issue_code_for(
    rt: Runtime,
    env: EnvironmentRecord,
    request: AuthorizationRequest,
    *,
    user_id: str,
    amr: Sequence[str],
    auth_time: float,
) -> CodeIssued:
    """A code for ``request``, for the user's authentication; OAuthError if none can be issued."""
    signed_in = Authentication(user_id=user_id, amr=tuple(amr), auth_time=auth_time)
    code = await issue_code(rt, env, request.code_request, signed_in)
    return CodeIssued(code, request.return_to)
