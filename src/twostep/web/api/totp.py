"""TOTP enrollment, verification, reset and recovery codes of one user."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from twostep.services import enrollment, recovery, verification
from twostep.web.api.schemas import (
    CodeBody,
    RecoveryCodesOut,
    RecoveryVerifyOut,
    RegistrationOut,
    ValidOut,
)
from twostep.web.deps import ApplicationQuery, ScopeDep, UserIdPath

router = APIRouter(prefix="/api/v1/org/{org}/users/{user_id}", tags=["totp"])


@router.post("/totp", status_code=status.HTTP_201_CREATED, response_model_exclude_none=True)
async def register_totp(
    user_id: UserIdPath,
    scope: ScopeDep,
    application: ApplicationQuery = None,
) -> RegistrationOut:
    """Issue a secret: the only answer that ever shows it (as Base32, key URI and QR code)."""
    found = await enrollment.register(
        scope.rt, scope.actor, scope.env, user_id, client_id=application
    )
    return RegistrationOut(
        id=found.id,
        status=found.status,
        secret=found.secret,
        uri=found.uri,
        qr_svg=found.qr_svg,
        recovery_codes=found.recovery_codes,
    )


@router.post("/totp/confirm")
async def confirm_totp(
    user_id: UserIdPath,
    body: CodeBody,
    scope: ScopeDep,
    application: ApplicationQuery = None,
) -> RecoveryCodesOut:
    """Activate a pending authenticator with its first code; answers the recovery codes, once."""
    codes = await enrollment.confirm(
        scope.rt, scope.actor, scope.env, user_id, body.code, client_id=application
    )
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/totp/verify")
async def verify_totp(
    user_id: UserIdPath,
    body: CodeBody,
    scope: ScopeDep,
    application: ApplicationQuery = None,
) -> ValidOut:
    await verification.verify_code(
        scope.rt, scope.actor, scope.env, user_id, body.code, client_id=application
    )
    return ValidOut()


@router.delete("/totp", status_code=status.HTTP_204_NO_CONTENT)
async def reset_totp(
    user_id: UserIdPath,
    scope: ScopeDep,
    application: ApplicationQuery = None,
) -> Response:
    """Admin reset: removes the authenticator and its recovery codes."""
    await enrollment.reset(scope.rt, scope.actor, scope.env, user_id, client_id=application)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/recovery-codes", tags=["recovery codes"])
async def regenerate_recovery_codes(
    user_id: UserIdPath,
    scope: ScopeDep,
    application: ApplicationQuery = None,
) -> RecoveryCodesOut:
    """A new set of recovery codes; the old set stops working."""
    codes = await recovery.regenerate(
        scope.rt, scope.actor, scope.env, user_id, client_id=application
    )
    return RecoveryCodesOut(recovery_codes=codes)


@router.post("/recovery-codes/verify", tags=["recovery codes"])
async def use_recovery_code(
    user_id: UserIdPath,
    body: CodeBody,
    scope: ScopeDep,
    application: ApplicationQuery = None,
) -> RecoveryVerifyOut:
    left = await recovery.use_recovery_code(
        scope.rt, scope.actor, scope.env, user_id, body.code, client_id=application
    )
    return RecoveryVerifyOut(recovery_codes_remaining=left)
