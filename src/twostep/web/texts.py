"""The names operators use for texts in their override files (``TWOSTEP_TRANSLATIONS_DIR``).

``ALIASES`` maps a file key to the msgid it overrides. Each error of spec section 5 has two:
``totp.<code without underscores>`` (the shape of MIB LockServer's dictionary, so
``totp.invalidcode``, ``totp.operationdisabled``) and ``errors.<code>``
(``errors.invalid_code``). Web modules with texts of their own add their keys here when they
are imported; the runtime reads the override files with this mapping when the app starts.
"""

from __future__ import annotations

from twostep import errors

__all__ = ["ALIASES", "PAGE_ALIASES", "error_aliases"]


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

ALIASES: dict[str, str] = {**error_aliases(), **PAGE_ALIASES}
