"""What every service call needs, built once by ``wiring`` and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from twostep.clock import Clock
from twostep.crypto import Keyring, SecretBox
from twostep.errors import OperationDisabled
from twostep.i18n import NO_OVERRIDES, Texts
from twostep.passwords import PasswordHasher
from twostep.policy import AuthConfig, parse_config
from twostep.services.memo import Memo
from twostep.settings import Settings
from twostep.storage import Database

__all__ = [
    "Actor",
    "Runtime",
    "config_of",
    "ensure_totp_enabled",
    "new_http_client",
    "totp_enabled",
]


def new_http_client() -> httpx.AsyncClient:
    """The outgoing HTTP client (webhooks): redirects are not followed, callers set timeouts.

    Proxies named in the process environment are ignored: a proxy would choose the address
    connected to, which ``outbound`` must check itself."""
    return httpx.AsyncClient(follow_redirects=False, trust_env=False)


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    keyring: Keyring
    box: SecretBox
    clock: Clock
    passwords: PasswordHasher
    # Shared so connections are pooled; whoever disposes ``db`` closes it too (``aclose``).
    http: httpx.AsyncClient = field(default_factory=new_http_client)
    # The operator's overrides of texts (TWOSTEP_TRANSLATIONS_DIR), read once by the web edge.
    texts: Texts = NO_OVERRIDES
    # Compiled published journey versions (they never change), by (environment, name, version);
    # typed loosely because the journeys layer, above this one, owns what is kept.
    compiled_journeys: Memo[tuple[str, str, int], object] = field(default_factory=lambda: Memo(256))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks, for the audit trail: an API key id, 'cli', or a user id; and from where.

    ``ip`` is where the request came from (recorded); ``end_user_ip`` is the end user's
    address that the per-IP limits of spec 3b.4 count, None when nothing is counted (the
    management API's own caller is a tenant's backend, not an end user).
    """

    name: str
    ip: str | None = None
    end_user_ip: str | None = None

    @classmethod
    def end_user(cls, name: str, ip: str | None) -> Actor:
        """An end user's request (journey API, hosted pages, OAuth): its address is counted."""
        return cls(name, ip, ip)


def config_of(auth_config_json: str) -> AuthConfig:
    """The auth config stored as JSON text (an ``EnvironmentRecord`` carries it parsed already,
    as ``config``: this is for text read with another record)."""
    return parse_config(auth_config_json)


def totp_enabled(settings: Settings, config: AuthConfig) -> bool:
    """Spec 3.12: the server switch and the environment's ``totp.active`` both must be on."""
    return settings.totp_enabled and config.totp.active


def ensure_totp_enabled(settings: Settings, config: AuthConfig) -> None:
    if not totp_enabled(settings, config):
        raise OperationDisabled()
