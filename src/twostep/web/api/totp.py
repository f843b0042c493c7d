"""TOTP enrollment, verification, reset and recovery codes of one user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from twostep.errors import Forbidden
from twostep.services import enrollment, recovery, transfer, verification
from twostep.services.admin_recovery import admin_reset
from twostep.web.api.admin_recovery import ReasonBody, ReasonQuery, reason_of
from twostep.web.api.key_import import KeyImportBody
from twostep.web.api.schemas import (
    CodeBody,
    RecoveryCodesOut,
    RecoveryVerifyOut,
    RegistrationOut,
    ValidOut,
)
from twostep.web.deps import ApplicationQuery, ScopeDep, UserIdPath

__all__ = [
    "confirm_totp",
    "regenerate_recovery_codes",
    "register_totp",
    "reset_totp",
    "router",
    "use_recovery_code",
    "verify_totp",
]

router = APIRouter(prefix="/api/v1/org/{org}/users/{user_id}", tags=["totp"])


@router.post(
    "/totp",
    status_code=status.HTTP_201_CREATED,
    response_model_exclude_none=True,
    operation_id="registerTotp",
)
async def register_totp(
    user_id: UserIdPath,
    scope: ScopeDep,
    application: ApplicationQuery = None,
    body: Annotated[KeyImportBody | None, Body()] = None,
) -> RegistrationOut:
    """Issue a secret: the only answer that ever shows it (as Base32, key URI and QR code).

    With ``secret`` or ``uri`` (a server-admin key only), register that existing key instead:
    active at once, and the answer shows no secret."""
    imported = None if body is None else body.key()
    if imported is not None:
        if not scope.is_admin:
            raise Forbidden("Only a server-admin API key may import a secret.")
        authenticator_id = await transfer.import_key(
            scope.rt, scope.actor, scope.env, user_id, *imported, client_id=application
        )
        return RegistrationOut(id=authenticator_id, status="active")
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


@router.post("/totp/confirm", operation_id="confirmTotp")
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


@router.post("/totp/verify", operation_id="verifyTotpCode")
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


@router.delete("/totp", status_code=status.HTTP_204_NO_CONTENT, operation_id="resetTotp")
async def reset_totp(
    user_id: UserIdPath,
    scope: ScopeDep,
    application: ApplicationQuery = None,
    reason: ReasonQuery = None,
    body: Annotated[ReasonBody | None, Body()] = None,
) -> Response:
    """Admin reset: removes the authenticator and its recovery codes and ends the user's
    sessions; ``reason`` (body or query) is required and kept in the audit trail."""
    await admin_reset(
        scope.rt, scope.actor, scope.env, user_id, reason_of(body, reason), client_id=application
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/recovery-codes", tags=["recovery codes"], operation_id="regenerateRecoveryCodes")
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


@router.post("/recovery-codes/verify", tags=["recovery codes"], operation_id="useRecoveryCode")
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
