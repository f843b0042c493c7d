"""The names operators use for texts in their override files (``TWOSTEP_TRANSLATIONS_DIR``).

``ALIASES`` maps a file key to the msgid it overrides. Each error of spec section 5 has two:
``totp.<code without underscores>`` (the shape of MIB LockServer's dictionary, so
``totp.invalidcode``, ``totp.operationdisabled``) and ``errors.<code>``
(``errors.invalid_code``). Web modules with texts of their own add their keys here when they
are imported; the runtime reads the override files with this mapping when the app starts.
"""

from __future__ import annotations

import re

from twostep import errors

__all__ = ["ALIASES", "MIB_ALIASES", "PAGE_ALIASES", "error_aliases", "mib_tag"]


def error_aliases() -> dict[str, str]:
    """``totp.<code>`` and ``errors.<code>`` -> the default msgid, for each error class."""
    aliases: dict[str, str] = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        if cls is errors.TwostepError:
            continue
        aliases[f"totp.{cls.code.replace('_', '')}"] = cls.default_msgid
        aliases[f"errors.{cls.code}"] = cls.default_msgid
    return aliases


# The page texts operators most often reword, by MIB-style names (tooltips and titles).
PAGE_ALIASES: dict[str, str] = {
    "totp.tooltip.code": "Enter the code shown by your authenticator app.",
    "totp.tooltip.recoverycode": "Enter one of your recovery codes.",
    "totp.tooltip.scan": (
        "Scan this QR code with an authenticator app "
        "(Google Authenticator, Authy, FreeOTP, 1Password...)."
    ),
    "totp.tooltip.manualkey": "Can't scan it? Enter this key by hand",
    "totp.tooltip.firstcode": "Then enter the code the app shows",
    "totp.tooltip.recoverycodes": (
        "If you lose your phone, each of these codes lets you sign in once. "
        "Keep them somewhere safe: they are shown only now."
    ),
    "totp.tooltip.lock": (
        "While your lock is closed, nobody can sign in to your account, "
        "even with your password and code."
    ),
    "totp.title.setup": "Set up two-factor authentication",
    "totp.title.challenge": "Two-factor authentication",
    "totp.title.recoverycodes": "Your recovery codes",
    "login.title": "Sign in",
    "login.username": "Email or username",
    "login.password": "Password",
}

# MIB LockServer's own dictionary, accepted unchanged: its tags, under <totp>, by the text each
# names. Its other tags of the same forms have no text here: skipped with one startup warning.
MIB_ALIASES: dict[str, str] = {
    "totp.two_fa_field_tooltip": "Enter the code shown by your authenticator app.",
    "totp.two_fa_button_tooltip": "Verify",
    "totp.validateerror304": errors.InvalidCode.default_msgid,
    "totp.validateerror305": errors.CodeReused.default_msgid,
    "totp.validateerror306": errors.LockedOut.default_msgid,
    "totp.validateerror307": errors.TotpNotEnrolled.default_msgid,
    "totp.validateerror401": errors.Unauthorized.default_msgid,
    "totp.validateerror402": errors.Forbidden.default_msgid,
    "totp.validateerror708": errors.OperationDisabled.default_msgid,
}
_MIB_TAG = re.compile(r"totp\.(validateerror[0-9]+|two_fa_[a-z0-9_]+)")


def mib_tag(key: str) -> bool:
    """Whether ``key`` has the form of a MIB dictionary tag (accepted even with no text here)."""
    return _MIB_TAG.fullmatch(key) is not None


ALIASES: dict[str, str] = {**error_aliases(), **PAGE_ALIASES, **MIB_ALIASES}
