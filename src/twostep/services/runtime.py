"""What every service call needs, built once by ``wiring`` and passed in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from twostep.clock import Clock
from twostep.crypto import Keyring, SecretBox
from twostep.errors import OperationDisabled
from twostep.passwords import PasswordHasher
from twostep.policy import AuthConfig, load_config
from twostep.settings import Settings
from twostep.storage import Database

__all__ = ["Actor", "Runtime", "config_of", "ensure_totp_enabled"]


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    keyring: Keyring
    box: SecretBox
    clock: Clock
    passwords: PasswordHasher


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks, for the audit trail: an API key id, 'cli', or a user id; and from where."""

    name: str
    ip: str | None = None


@lru_cache(maxsize=256)
def config_of(auth_config_json: str) -> AuthConfig:
    """The auth config stored as JSON text; parsed once per distinct text."""
    return load_config(json.loads(auth_config_json))


def ensure_totp_enabled(settings: Settings, config: AuthConfig) -> None:
    """Spec 3.12: the server switch and the environment's ``totp.active`` both must be on."""
    if not settings.totp_enabled or not config.totp.active:
        raise OperationDisabled()
