"""The optional body of ``POST .../totp``: an existing key, from another system, to register."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twostep.otp import Algorithm, TotpParams, b32decode, parse_key_uri
from twostep.otp.totp import MAX_PERIOD, MIN_PERIOD
from twostep.services.key_files import MAX_SECRET_BYTES, MIN_SECRET_BYTES, check_secret

__all__ = ["KeyImportBody"]


class KeyImportBody(BaseModel):
    """``secret`` (Base32, with ``algorithm``, ``digits``, ``period``) or ``uri``; an empty
    body issues a new secret as without one."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "algorithm": "SHA1", "digits": 6}
            ]
        },
    )

    secret: str | None = Field(
        None,
        max_length=256,
        description=f"Base32, {MIN_SECRET_BYTES * 8} to {MAX_SECRET_BYTES * 8} bits",
    )
    uri: str | None = Field(None, max_length=2048, description="an otpauth://totp/ key URI")
    algorithm: Literal["SHA1", "SHA256", "SHA512"] | None = Field(None, description="SHA1")
    digits: int | None = Field(None, ge=6, le=8, description="6 when absent")
    period: int | None = Field(None, ge=MIN_PERIOD, le=MAX_PERIOD, description="30 when absent")

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None:
            check_secret(b32decode(value))
        return value

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is not None:
            check_secret(parse_key_uri(value).secret)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> KeyImportBody:
        if self.secret is not None and self.uri is not None:
            raise ValueError("give either secret or uri, not both")
        given = [self.algorithm, self.digits, self.period]
        if self.uri is not None and any(v is not None for v in given):
            raise ValueError("algorithm, digits and period come from the uri")
        if self.secret is None and self.uri is None and any(v is not None for v in given):
            raise ValueError("algorithm, digits and period need a secret")
        return self

    def key(self) -> tuple[bytes, TotpParams] | None:
        """The key to import, or None when the body names none (issue a new secret)."""
        if self.uri is not None:
            parsed = parse_key_uri(self.uri)
            return parsed.secret, parsed.params
        if self.secret is None:
            return None
        params = TotpParams(
            Algorithm(self.algorithm or "SHA1"), self.digits or 6, self.period or 30
        )
        return b32decode(self.secret), params
