"""Token families: the code and every token issued from it share one, and revoking the family
revokes them all (RFC 6749 10.5, OAuth 2.0 Security BCP 4.14).

A mint locks the family row, a revocation updates it first: a token is never minted into a
family being revoked, whatever the interleaving. A grant refused inside its transaction is a
``Refusal``: raised once the transaction (and any family revocation) has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from twostep.oauth.errors import OAuthError
from twostep.services.audit import audit
from twostep.services.runtime import Actor, Runtime
from twostep.storage import Tx
from twostep.storage.repositories import oauth as repo
from twostep.storage.repositories.oauth import FamilyRecord
from twostep.storage.repositories.users import UserRecord

__all__ = [
    "FamilyMember",
    "Refusal",
    "RevokeReason",
    "invalid_grant",
    "live_family",
    "revoke_family",
    "usable_user",
]

#: Why a family goes: a replayed code, a reused refresh token, or a revocation (RFC 7009).
RevokeReason = Literal["code_replay", "refresh_reuse", "revoked"]


class FamilyMember(Protocol):
    """A code or token of a family: what its revocation is audited with."""

    @property
    def family(self) -> str: ...
    @property
    def environment_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """A grant refused inside its transaction: the error to raise once it has committed, and
    the code or token whose family goes first (a replayed code, a reused refresh token)."""

    error: OAuthError
    revokes: FamilyMember | None = None


def invalid_grant(description: str) -> OAuthError:
    """RFC 6749 5.2 ``invalid_grant``."""
    return OAuthError("invalid_grant", description)


def usable_user(user: UserRecord | None) -> bool:
    """Whether tokens may still be issued to this user: it exists, is active, lock open."""
    return user is not None and user.may_sign_in


async def live_family(tx: Tx, family: str, client_id: str) -> FamilyRecord | None:
    """The family locked for minting, or None if it is gone or revoked."""
    record = await repo.lock_family(tx, family)
    if record is None or record.revoked_at is not None:
        return None
    if record.client_id != client_id:
        raise ValueError("the token family belongs to another client")
    return record


async def revoke_family(
    tx: Tx, rt: Runtime, actor: Actor, member: FamilyMember, reason: RevokeReason
) -> None:
    """Revoke ``member``'s whole family (JWT access tokens too) and audit why."""
    revoked = await repo.revoke_family(tx, member.family, now=rt.clock.now(), reason=reason)
    await audit(
        tx,
        rt,
        actor,
        f"oauth.{reason}",
        "revoked",
        environment_id=member.environment_id,
        user_id=member.user_id,
        details={
            "client_id": member.client_id,
            "family": member.family,
            "tokens_revoked": revoked,
        },
    )
