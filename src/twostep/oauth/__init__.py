"""OAuth 2.0 / OpenID Connect: the protocol, which ``web/oauth.py`` adapts to HTTP.

- ``authorize``: is an authorization request valid, and what must the user do first;
  ``sso``: whether a live session answers it at once; ``signin``: the request as a journey
  carries it, and the code its end issues (the one module ``journeys/`` imports);
- ``server``: client authentication, grant dispatch, userinfo, revocation, introspection;
  ``discovery``: the OpenID configuration document;
- the token core: ``tokens`` (its words and values), ``codes``, ``minting``, ``refresh``,
  ``introspection``, ``families`` (revoking together), ``purge``;
- ``keys`` (signing keys, JWKS, rotation), ``errors`` (``OAuthError``, RFC 6749 shaped).

This layer sits beside the journeys, above the services: it may use services and storage,
never the web or the journeys.
"""

__all__: list[str] = []
