"""The composition root: settings in, a ready ``Runtime`` out (used by the web app and the CLI)."""

from __future__ import annotations

from twostep.clock import SystemClock
from twostep.crypto import Keyring, SecretBox
from twostep.i18n import NO_OVERRIDES, Texts
from twostep.passwords import PasswordHasher
from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.storage import Database

__all__ = ["build_runtime"]


def build_runtime(settings: Settings, *, texts: Texts = NO_OVERRIDES) -> Runtime:
    """Everything a service call needs; ``texts`` are the operator's overrides (web only)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets_file = settings.resolved_secrets_file
    keyring = Keyring.load_or_create(secrets_file)
    return Runtime(
        settings=settings,
        db=Database(settings.resolved_database_url, pool_size=settings.db_pool_size),
        keyring=keyring,
        box=SecretBox(keyring, path=secrets_file),
        clock=SystemClock(),
        passwords=PasswordHasher(),
        texts=texts,
    )
