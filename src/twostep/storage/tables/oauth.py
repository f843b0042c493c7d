"""OAuth 2.0 / OIDC: the keys tokens are signed with, authorization codes, token families, tokens.

No secret is stored in the clear: codes and opaque tokens are found by their SHA-256 (they
carry 256 random bits), signing keys are sealed with the SecretBox.
"""

from sqlalchemy import (
    JSON,
    Column,
    Double,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from twostep.storage.tables.base import environment_id_column, metadata

__all__ = ["oauth_codes", "oauth_families", "oauth_tokens", "signing_keys"]

signing_keys = Table(
    "signing_keys",
    metadata,
    # RFC 7638 thumbprint of the public key: the JWS ``kid`` header.
    Column("kid", String(64), primary_key=True),
    # 1, 2, 3...: the newest key signs. Unique, so two processes creating the first key (or
    # rotating at once) cannot both succeed: the loser reads the winner's key.
    Column("generation", Integer, nullable=False, unique=True),
    Column("alg", String(16), nullable=False),
    # The private JWK (JSON) sealed by the SecretBox, with the kid as AAD, and the box's key id.
    Column("key_id", String(32), nullable=False, index=True),
    Column("private_ciphertext", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    # Set when a newer key took over; the old one stays in the JWKS until ``publish_until``,
    # when every token it signed has expired.
    Column("retired_at", Double, nullable=True),
    Column("publish_until", Double, nullable=True),
)

# A family is one authentication of one user for one client (or one client_credentials
# grant): the code, and every token issued from it or by rotating its refresh tokens.
# Revoking the family revokes all of them; the row is also what a mint and a revocation
# serialize on (SELECT ... FOR UPDATE), so no token is minted into a family being revoked.
oauth_families = Table(
    "oauth_families",
    metadata,
    Column("family", String(36), primary_key=True),
    environment_id_column(index=True),
    # Deleting the application (or the user) deletes its families, so all their tokens.
    Column(
        "client_id",
        String(64),
        ForeignKey("applications.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "user_id",
        String(36),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double, nullable=True),
    # Why: code_replay, refresh_reuse, revoked.
    Column("revoked_reason", String(16), nullable=True),
)


def _family_column() -> Column[str]:
    return Column(
        "family",
        String(36),
        ForeignKey("oauth_families.family", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


oauth_codes = Table(
    "oauth_codes",
    metadata,
    # SHA-256 hex of the code; the code itself is only ever in the redirect to the client.
    Column("code_hash", String(64), primary_key=True),
    environment_id_column(index=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    # PKCE (RFC 7636): only S256 is accepted.
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(8), nullable=False),
    Column("nonce", Text, nullable=True),
    Column("scope", Text, nullable=False),
    # How the user authenticated (RFC 8176: pwd, otp, recovery), the acr that follows, when.
    Column("amr", JSON, nullable=False),
    Column("acr", String(64), nullable=False),
    Column("auth_time", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
    # Set by the one redemption that wins; a later one is a replay.
    Column("used_at", Double, nullable=True),
    _family_column(),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    # SHA-256 hex of the opaque token, or of the ``jti`` of a JWT access token.
    Column("token_hash", String(64), primary_key=True),
    # access (opaque access token), refresh, jwt (the record of a JWT access token).
    Column("kind", String(8), nullable=False),
    environment_id_column(index=True),
    Column("client_id", String(64), nullable=False),
    # None for client_credentials tokens: their subject is the client.
    Column(
        "user_id",
        String(36),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("scope", Text, nullable=False),
    Column("audience", String(200), nullable=False),
    _family_column(),
    Column("amr", JSON, nullable=False),
    Column("acr", String(64), nullable=True),
    Column("auth_time", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
    Column("revoked_at", Double, nullable=True),
    # A refresh token already exchanged for a new one: presenting it again is reuse.
    Column("rotated_at", Double, nullable=True),
)
