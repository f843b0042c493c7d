"""Request and response bodies at the edge; ORM rows and records never leave through here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from twostep.identifiers import (
    Domain,
    Email,
    EmailDomain,
    Password,
    Phone,
    PrintableName,
    Username,
)
from twostep.services.accounts import UserView
from twostep.storage.repositories.authenticators import AuthenticatorStatus
from twostep.storage.repositories.users import UserStatus

__all__ = [
    "CodeBody",
    "LockOut",
    "LockPatch",
    "OrganizationCreate",
    "OrganizationOut",
    "RecoveryCodesOut",
    "RecoveryVerifyOut",
    "RegistrationOut",
    "TwoFactorOut",
    "UserCreate",
    "UserOut",
    "UserPatch",
    "UsersPage",
    "ValidOut",
    "iso",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat()


class OrganizationCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Example Inc", "domain": "example.com", "email_domains": ["example.com"]}
            ]
        }
    )

    name: PrintableName
    domain: Domain
    email_domains: list[EmailDomain] = Field(default_factory=list, max_length=50)


class OrganizationOut(BaseModel):
    id: str
    domain: str
    name: str
    email_domains: list[str]
    created_at: str | None
    api_keys: dict[str, str] | None = Field(
        None, description="One key per environment; only in the answer that creates it."
    )


class UserCreate(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "username": "ada",
                    "password": "correct horse battery staple",
                }
            ]
        }
    )

    email: Email | None = None
    username: Username | None = None
    phone: Phone | None = None
    password: Password | None = None
    status: UserStatus = "active"


class UserPatch(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"phone": "+33612345678", "status": "disabled"}]}
    )

    email: Email | None = None
    username: Username | None = None
    phone: Phone | None = None
    password: Password | None = None
    status: UserStatus | None = None


class TwoFactorOut(BaseModel):
    enabled: bool
    totp_id: str | None
    status: AuthenticatorStatus | None
    enrolled_at: str | None
    recovery_codes_remaining: int
    drift_s: int = Field(
        0, description="The authenticator's learned clock drift in seconds (negative: late)."
    )


class LockOut(BaseModel):
    paired: bool
    closed: bool
    paired_at: str | None


class LockPatch(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"closed": True}]})

    closed: bool


class UserOut(BaseModel):
    id: str
    email: str | None
    username: str | None
    phone: str | None
    status: UserStatus
    has_password: bool
    created_at: str | None
    updated_at: str | None
    two_factor: TwoFactorOut
    lock: LockOut

    @classmethod
    def of(cls, view: UserView) -> UserOut:
        u, tf = view.user, view.two_factor
        return cls(
            id=u.id,
            email=u.email,
            username=u.username,
            phone=u.phone,
            status=u.status,
            has_password=u.password_hash is not None,
            created_at=iso(u.created_at),
            updated_at=iso(u.updated_at),
            lock=LockOut(
                paired=u.lock_paired_at is not None,
                closed=u.lock_closed,
                paired_at=iso(u.lock_paired_at),
            ),
            two_factor=TwoFactorOut(
                enabled=tf.enabled,
                totp_id=tf.totp_id,
                status=tf.status,
                enrolled_at=iso(tf.enrolled_at),
                recovery_codes_remaining=tf.recovery_codes_remaining,
                drift_s=tf.drift_s,
            ),
        )


class UsersPage(BaseModel):
    data: list[UserOut]
    page: int
    per_page: int
    total: int


class CodeBody(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "492039"}]})

    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RegistrationOut(BaseModel):
    id: str
    status: AuthenticatorStatus
    # Absent when an existing key was imported: whoever imports it has it already.
    secret: str | None = Field(None, description="Base32; shown only in this answer")
    uri: str | None = Field(None, description="otpauth:// key URI; shown only in this answer")
    qr_svg: str | None = None
    recovery_codes: list[str] | None = Field(
        None, description="Only when enrollment needs no confirmation"
    )


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class ValidOut(BaseModel):
    valid: Literal[True] = True


class RecoveryVerifyOut(BaseModel):
    valid: Literal[True] = True
    recovery_codes_remaining: int
