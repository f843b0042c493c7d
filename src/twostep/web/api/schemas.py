"""Request and response bodies at the edge; ORM rows and records never leave through here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from twostep.services.accounts import UserView

__all__ = [
    "CodeBody",
    "OrganizationCreate",
    "OrganizationOut",
    "UserCreate",
    "UserOut",
    "UserPatch",
    "UsersPage",
    "iso",
]

# At most 52 characters: "<domain>-production" is the client_id (64 at most) of the
# environment's default application.
Domain = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", max_length=52)
]
EmailDomain = Annotated[
    str,
    StringConstraints(
        max_length=253,
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
    ),
]
Email = Annotated[
    str,
    StringConstraints(pattern=r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,255}$", max_length=320),
]
# No '@': the password step takes an email or a username, so a username shaped like someone's
# email would name two accounts (issue 9).
Username = Annotated[str, StringConstraints(pattern=r"^[\w.+-]{1,150}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{3,31}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC).isoformat()


# Printable text: no control characters (NUL included), which no name needs.
PrintableName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class OrganizationCreate(_Body):
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
    email: Email | None = None
    username: Username | None = None
    phone: Phone | None = None
    password: Password | None = None
    status: Literal["active", "disabled"] = "active"


class UserPatch(_Body):
    email: Email | None = None
    username: Username | None = None
    phone: Phone | None = None
    password: Password | None = None
    status: Literal["active", "disabled"] | None = None


class TwoFactorOut(BaseModel):
    enabled: bool
    totp_id: str | None
    status: Literal["pending", "active"] | None
    enrolled_at: str | None
    recovery_codes_remaining: int


class LockOut(BaseModel):
    paired: bool
    closed: bool
    paired_at: str | None


class LockPatch(_Body):
    closed: bool


class UserOut(BaseModel):
    id: str
    email: str | None
    username: str | None
    phone: str | None
    status: str
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
            ),
        )


class UsersPage(BaseModel):
    data: list[UserOut]
    page: int
    per_page: int
    total: int


class CodeBody(_Body):
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RegistrationOut(BaseModel):
    id: str
    status: Literal["pending", "active"]
    secret: str = Field(description="Base32; shown only in this answer")
    uri: str = Field(description="otpauth:// key URI; shown only in this answer")
    qr_svg: str
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
