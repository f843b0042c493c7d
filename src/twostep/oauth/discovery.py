"""OpenID Connect Discovery 1.0: what this server supports, at ``/.well-known``."""

from __future__ import annotations

from typing import Any

from twostep.oauth.authorize import SCOPES
from twostep.oauth.keys import ALGORITHM
from twostep.oauth.tokens import ACR_MFA, ACR_PWD

__all__ = ["GRANT_TYPES", "openid_configuration"]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def openid_configuration(issuer: str) -> dict[str, Any]:
    """The discovery document of the server at ``issuer``."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
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
