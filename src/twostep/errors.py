"""The errors services raise, each with the stable ``code`` and HTTP ``status`` of spec section 5.

``web/problems.py`` alone turns them into RFC 9457 problems; ``msgid`` is the catalogue
entry of the translated ``detail``.

TwostepError
 ├── ValidationFailed            validation_error            422
 ├── Unauthorized                unauthorized                401
 ├── Forbidden                   forbidden                   403
 ├── NotFound                    not_found                   404
 ├── InvalidCode                 invalid_code                400
 ├── CodeReused                  code_reused                 400
 ├── LockedOut                   locked_out                  429  (retry_after)
 ├── OperationDisabled           operation_disabled          403
 ├── TotpNotEnrolled             totp_not_enrolled           404
 ├── TotpAlreadyEnrolled         totp_already_enrolled       409
 ├── RecoveryCodeInvalid         recovery_code_invalid       400
 ├── RecoveryCodesExhausted      recovery_codes_exhausted    409
 ├── RecoveryCodeRateLimited     recovery_code_rate_limited  429  (retry_after)
 ├── AccountLocked               account_locked              403
 ├── JourneyExpired              journey_expired             410
 ├── Conflict                    conflict                    409  (a unique field already taken)
 ├── InvalidCredentials          invalid_credentials         400  (a journey's password step)
 ├── NotAuthenticated            not_authenticated           401  (no user signed in, bad session token)
 ├── IdentityNotVerified         identity_not_verified       403  (sign-up named an existing account)
 ├── AccessDenied                access_denied               403  (a journey's reject step)
 ├── ReauthenticationRequired    reauthentication_required   403  (weakening 2FA needs a fresh one)
 └── SecondFactorRequired        second_factor_required      409  (totp.enforce: the last one stays)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "AccountLocked",
    "CodeReused",
    "Conflict",
    "Forbidden",
    "IdentityNotVerified",
    "InvalidCode",
    "InvalidCredentials",
    "JourneyExpired",
    "LockedOut",
    "NotAuthenticated",
    "NotFound",
    "OperationDisabled",
    "ReauthenticationRequired",
    "RecoveryCodeInvalid",
    "RecoveryCodeRateLimited",
    "RecoveryCodesExhausted",
    "SecondFactorRequired",
    "TotpAlreadyEnrolled",
    "TotpNotEnrolled",
    "TwostepError",
    "Unauthorized",
    "ValidationFailed",
]


class TwostepError(Exception):
    """A failure a client can act on: a stable code, an HTTP status and a translatable text."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Error"
    default_msgid: ClassVar[str] = "An error occurred."

    def __init__(
        self,
        msgid: str | None = None,
        *,
        retry_after: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> None:
        self.msgid: str = msgid or type(self).default_msgid
        self.retry_after = retry_after
        self.errors = errors or []
        self.params = params
        super().__init__(self.msgid)


class ValidationFailed(TwostepError):
    """``errors`` are ``{loc, msg, type}`` entries; ``rules`` maps an entry's ``loc`` (a tuple)
    to the stable code of the rule its value broke, for whoever shows its own text for it (the
    admin console). Clients read ``errors`` only."""

    code, status, title = "validation_error", 422, "Validation error"
    default_msgid = "The request is not valid."

    def __init__(
        self,
        msgid: str | None = None,
        *,
        rules: Mapping[tuple[str | int, ...], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(msgid, **kwargs)
        self.rules: dict[tuple[str | int, ...], str] = dict(rules or {})


class Unauthorized(TwostepError):
    code, status, title = "unauthorized", 401, "Unauthorized"
    default_msgid = "A valid API key is required."


class Forbidden(TwostepError):
    code, status, title = "forbidden", 403, "Forbidden"
    default_msgid = "This API key may not act on this organization or environment."


class NotFound(TwostepError):
    code, status, title = "not_found", 404, "Not found"
    default_msgid = "Not found."


class Conflict(TwostepError):
    code, status, title = "conflict", 409, "Conflict"
    default_msgid = "This value is already taken."


class InvalidCode(TwostepError):
    code, status, title = "invalid_code", 400, "Invalid code"
    default_msgid = "The code is not valid."


class CodeReused(TwostepError):
    code, status, title = "code_reused", 400, "Code already used"
    default_msgid = "This code has already been used. Wait for the next one."


class LockedOut(TwostepError):
    code, status, title = "locked_out", 429, "Too many attempts"
    default_msgid = "Too many wrong codes. Try again in {seconds} seconds."


class OperationDisabled(TwostepError):
    code, status, title = "operation_disabled", 403, "Operation disabled"
    default_msgid = "Two-factor authentication is switched off."


class TotpNotEnrolled(TwostepError):
    code, status, title = "totp_not_enrolled", 404, "Not enrolled"
    default_msgid = "No authenticator is enrolled."


class SecondFactorRequired(TwostepError):
    code, status, title = "second_factor_required", 409, "Second factor required"
    default_msgid = (
        "Your organization requires two-factor authentication: your only authenticator "
        "cannot be removed. Ask an administrator if you lost it."
    )


class TotpAlreadyEnrolled(TwostepError):
    code, status, title = "totp_already_enrolled", 409, "Already enrolled"
    default_msgid = "An authenticator is already active. Disable it first."


class RecoveryCodeInvalid(TwostepError):
    code, status, title = "recovery_code_invalid", 400, "Invalid recovery code"
    default_msgid = "The recovery code is not valid or has been used."


class RecoveryCodesExhausted(TwostepError):
    code, status, title = "recovery_codes_exhausted", 409, "No recovery codes left"
    default_msgid = "No recovery codes are left. Enroll an authenticator again."


class RecoveryCodeRateLimited(TwostepError):
    code, status, title = "recovery_code_rate_limited", 429, "Recovery code limit"
    default_msgid = "Only one recovery code can be used every {hours} hours."


class AccountLocked(TwostepError):
    code, status, title = "account_locked", 403, "Account locked"
    default_msgid = "The account is locked by its owner."


class JourneyExpired(TwostepError):
    code, status, title = "journey_expired", 410, "Journey expired"
    default_msgid = "This login session has expired or is finished. Start again."


class InvalidCredentials(TwostepError):
    code, status, title = "invalid_credentials", 400, "Invalid credentials"
    default_msgid = "The username or password is not correct."


class NotAuthenticated(TwostepError):
    code, status, title = "not_authenticated", 401, "Not signed in"
    default_msgid = "Sign in first."


class IdentityNotVerified(TwostepError):
    """Sign-up named an account that exists: only a proven user may add an authenticator to
    it (spec 3b.3). 403, not 409: the caller is refused, whether or not the account has one."""

    code, status, title = "identity_not_verified", 403, "Identity not verified"
    default_msgid = "This account already exists. Sign in to it first."


class AccessDenied(TwostepError):
    code, status, title = "access_denied", 403, "Access denied"
    default_msgid = "Access denied."


class ReauthenticationRequired(TwostepError):
    code, status, title = "reauthentication_required", 403, "Reauthentication required"
    default_msgid = (
        "Confirm it is you first: enter a current code or a recovery code, or sign in again."
    )
