"""Server settings from ``TWOSTEP_*`` environment variables, built once and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'twostep.db'}"

    @property
    def resolved_secrets_file(self) -> Path:
        return self.secrets_file or self.data_dir / "secrets.json"

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
