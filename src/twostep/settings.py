"""Server settings from ``TWOSTEP_*`` environment variables, built once and passed down."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Network", "Settings"]

Network = IPv4Network | IPv6Network
NetworkList = Annotated[tuple[Network, ...], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWOSTEP_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the SQLite file and secrets file live.")
    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty means SQLite in data_dir/twostep.db."
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    base_url: str = Field("", description="Public URL; empty means http://host:port.")
    admin_api_key: SecretStr | None = Field(
        None, description="Server-admin API key; else one is created and printed at first start."
    )
    secrets_file: Path | None = Field(
        None, description="JSON file with the encryption keys and the recovery-code pepper."
    )
    totp_enabled: bool = Field(True, description="False switches every TOTP operation off.")
    translations_dir: Path | None = None
    log_level: str = "info"
    access_log: bool = False
    max_body_bytes: int = Field(65536, ge=1024)
    ip_failure_limit: int = Field(
        50, ge=1, description="Wrong codes and passwords one IP may send per minute."
    )
    db_pool_size: int = Field(10, ge=1)
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
    trusted_proxies: NetworkList = Field(
        (),
        description="Comma-separated CIDRs of reverse proxies whose X-Forwarded-For / Forwarded "
        "headers name the end user's address; none by default.",
    )
    webhook_allowed_networks: NetworkList = Field(
        (),
        description="Comma-separated CIDRs that webhooks may reach although they are loopback, "
        "private or otherwise internal (on-premise receivers); none by default.",
    )

    @field_validator("trusted_proxies", "webhook_allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        """``10.0.0.0/8, 127.0.0.1`` (a bare address is a /32 or /128) or a list of those."""
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        if isinstance(value, list | tuple):
            return tuple(ip_network(str(part), strict=False) for part in value)
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'twostep.db'}"

    @property
    def resolved_secrets_file(self) -> Path:
        return self.secrets_file or self.data_dir / "secrets.json"

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
