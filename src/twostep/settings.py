"""Server settings, built once and passed down.

Where a value comes from, first match wins: arguments, ``TWOSTEP_*`` environment variables,
files ``twostep_<name>`` in ``TWOSTEP_SECRETS_DIR`` (container secrets), the TOML file named by
``TWOSTEP_CONFIG``, the defaults.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["CONFIG_ENV", "SECRETS_DIR_ENV", "Network", "NetworkList", "Settings"]

Network = IPv4Network | IPv6Network
NetworkList = Annotated[tuple[Network, ...], NoDecode]


_LOG_LEVELS = ("debug", "info", "warning", "error")

# Not settings themselves: they say where the other settings are.
CONFIG_ENV = "TWOSTEP_CONFIG"
SECRETS_DIR_ENV = "TWOSTEP_SECRETS_DIR"


class _TomlFile(TomlConfigSettingsSource):
    """The TOML file of ``TWOSTEP_CONFIG``: a key that names no setting is a typo, refused."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"{CONFIG_ENV}: no such file: {path}")
        super().__init__(settings_cls, toml_file=path)
        unknown = sorted(set(self.toml_data) - set(settings_cls.model_fields))
        if unknown:
            raise ValueError(f"{path}: not a setting: {', '.join(unknown)}")


def _file_sources(settings_cls: type[BaseSettings]) -> list[PydanticBaseSettingsSource]:
    """The secrets directory and the TOML file, when the environment names them."""
    sources: list[PydanticBaseSettingsSource] = []
    if secrets_dir := os.environ.get(SECRETS_DIR_ENV):
        # A missing directory is a deployment mistake: fail rather than run without secrets.
        if not Path(secrets_dir).is_dir():
            raise ValueError(f"{SECRETS_DIR_ENV}: no such directory: {secrets_dir}")
        sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
    if config := os.environ.get(CONFIG_ENV):
        sources.append(_TomlFile(settings_cls, Path(config)))
    return sources


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWOSTEP_", extra="ignore")

    data_dir: Path = Field(
        Path("var"),
        description="Where the SQLite file, the secrets file and the first-start admin key live.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy async URL, e.g. `postgresql+asyncpg://user:pw@host/db`; "
        "empty means SQLite in `data_dir/twostep.db`.",
    )
    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 in a container.")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    workers: int = Field(1, ge=1, le=64, description="Server processes.")
    base_url: str = Field(
        "",
        description="The public URL (the OIDC issuer; https makes cookies `Secure`); "
        "empty means `http://host:port`.",
    )
    admin_api_key: SecretStr | None = Field(
        None,
        description="The server-admin API key. Unset, one is created at first start, printed once "
        "and kept in `data_dir/admin-api-key` (mode 0600). Changing it retires the previous one "
        "(and the first-start key) at the next start.",
    )
    secrets_file: Path | None = Field(
        None,
        description="JSON file with the AES-GCM keys (by id) and the recovery-code pepper, "
        "mode 0600; `data_dir/secrets.json` when unset. Every node must share it; losing it "
        "loses every authenticator.",
    )
    totp_enabled: bool = Field(
        True, description="`false` switches every TOTP operation off (`operation_disabled`)."
    )
    translations_dir: Path | None = Field(
        None, description="Directory of `<locale>.json` / `<locale>.xml` text overrides for pages."
    )
    log_level: str = Field("info", description="debug, info, warning or error; JSON on stderr.")
    access_log: bool = Field(False, description="Uvicorn's access log (costs throughput).")
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that `GET /metrics` then requires (401 without it, compared "
        "in constant time); unset leaves `/metrics` open.",
    )
    max_body_bytes: int = Field(
        65536, ge=1024, description="Larger request bodies are answered 413 payload_too_large."
    )
    ip_failure_limit: int = Field(
        50,
        ge=1,
        description="Wrong codes and passwords one end user's address may send per minute in "
        "one environment before it is answered 429. The management API's own caller is never "
        "counted: a backend names its end user in a `Twostep-Forwarded-For: <ip>` header.",
    )
    audit_retention_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Audit events older than this many days are deleted by the server's "
        "periodic purge; unset keeps them forever.",
    )
    audit_anchor_file: Path | None = Field(
        None,
        description="An append-only file where the server writes the head (place and hash) of "
        "every audit chain that moved, one JSON line each, every `audit_anchor_interval_s`; "
        "`twostep audit verify` then finds a trail cut short behind an anchor. Keep it (or a "
        "copy) where the database's users cannot write (docs/audit-trail.md).",
    )
    audit_anchor_interval_s: int = Field(
        300, ge=1, le=86400, description="Seconds between two anchors of the audit chains."
    )
    db_pool_size: int = Field(10, ge=1, description="PostgreSQL connections per process.")
    max_clock_skew_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="How many seconds this node's clock may be off the PostgreSQL server's before "
        "`/readyz` answers 503 and the log warns, once a minute (compared at start and every "
        "minute; the gauge `twostep_clock_skew_seconds`). Not measured on SQLite.",
    )
    journey_ttl_s: int = Field(
        600, ge=30, le=86400, description="How long a journey session waits for its next answer."
    )
    session_ttl_s: int = Field(
        3600, ge=60, le=30 * 86400, description="Lifetime of the token a login journey issues."
    )
    reauth_s: int = Field(
        300,
        ge=0,
        le=86400,
        description="How old a session's last second factor may be for an action that weakens "
        "the second factor (disable, re-enroll, new recovery codes, lock pair/open/unpair).",
    )
    bypass_ttl_s: int = Field(
        3600,
        ge=60,
        le=7 * 86400,
        description="How long a one-time bypass code an admin issues for a user who lost their "
        "authenticator stays valid (it is accepted once, in place of a code, at sign-in).",
    )
    trusted_proxies: NetworkList = Field(
        (),
        description="Comma-separated CIDRs of reverse proxies whose X-Forwarded-For / Forwarded "
        "headers name the end user's address (the right-most address that is not a trusted "
        "proxy); none by default, and then those headers are ignored.",
    )
    webhook_allowed_networks: NetworkList = Field(
        (),
        description="Comma-separated CIDRs that webhooks may reach although they are loopback, "
        "private or otherwise internal (on-premise receivers); only these may be plain http. "
        "None by default: an endpoint must be https and resolve to public addresses only.",
    )
    event_retry_base_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="Pause before the second attempt to deliver an event to a webhook "
        "endpoint; each later pause doubles, up to an hour.",
    )
    event_retry_window_s: int = Field(
        86400,
        ge=1,
        le=30 * 86400,
        description="How long an event delivery is retried before it is marked failed; an "
        "endpoint whose deliveries fail this long without a success is disabled.",
    )
    event_poll_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often each server process looks for event deliveries that are due.",
    )
    webhook_secret_overlap_s: int = Field(
        86400,
        ge=0,
        le=30 * 86400,
        description="After a webhook endpoint's secret is rotated, how long the old secret "
        "still signs deliveries beside the new one.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the secrets directory, then the TOML file."""
        return init_settings, env_settings, *_file_sources(settings_cls)

    @field_validator("trusted_proxies", "webhook_allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        """``10.0.0.0/8, 127.0.0.1`` (a bare address is a /32 or /128) or a list of those."""
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        if isinstance(value, list | tuple):
            return tuple(ip_network(str(part), strict=False) for part in value)
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        """One of the four levels (any case): the server's logging refuses anything else."""
        if value.strip().lower() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.strip().lower()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'twostep.db'}"

    @property
    def resolved_secrets_file(self) -> Path:
        return self.secrets_file or self.data_dir / "secrets.json"

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
