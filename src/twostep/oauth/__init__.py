"""OAuth 2.0 / OpenID Connect: the token core the ``/oauth/*`` endpoints call.

``keys`` (signing keys, JWKS, rotation), ``tokens`` (codes, grants, tokens, introspection,
revocation), ``errors`` (``OAuthError``, RFC 6749 shaped). This layer sits beside the journeys,
above the services: it may use services and storage, never the web.
"""
