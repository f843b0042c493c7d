"""The errors of the OAuth endpoints, in the shape RFC 6749 (section 5.2) prescribes.

Not a ``TwostepError``: the token, revocation, introspection and userinfo endpoints answer
``{"error": ..., "error_description": ...}`` (RFC 6749, RFC 6750, RFC 7009), not
problem+json. The web layer turns an ``OAuthError`` into that body with ``status``; for 401s
it adds ``WWW-Authenticate`` (``Basic`` for invalid_client, ``Bearer`` for invalid_token).
"""

from __future__ import annotations

from typing import Final

__all__ = ["ERROR_STATUS", "OAuthError"]

#: Every ``error`` value this server answers, and its HTTP status.
ERROR_STATUS: Final[dict[str, int]] = {
    # RFC 6749 section 5.2 (token endpoint)
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_grant": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "invalid_scope": 400,
    # RFC 6749 section 4.1.2.1 (authorization endpoint, sent back in the redirect)
    "access_denied": 400,
    "unsupported_response_type": 400,
    "server_error": 500,
    "temporarily_unavailable": 503,
    # RFC 6750 section 3.1 (resource requests: userinfo)
    "invalid_token": 401,
    "insufficient_scope": 403,
    # RFC 7009 section 2.2.1 (revocation)
    "unsupported_token_type": 400,
    # OpenID Connect Core 3.1.2.6
    "login_required": 400,
    "interaction_required": 400,
    "consent_required": 400,
}


class OAuthError(Exception):
    """An OAuth failure: a registered ``error`` code, a human ``description`` and a status."""

    def __init__(self, error: str, description: str = "") -> None:
        if error not in ERROR_STATUS:
            raise ValueError(f"not an OAuth error code: {error!r}")
        self.error = error
        self.description = description
        self.status = ERROR_STATUS[error]
        super().__init__(f"{error}: {description}" if description else error)

    def as_dict(self) -> dict[str, str]:
        """The response body: ``error`` and, when there is one, ``error_description``."""
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body
