"""The names operators use for texts in their override files (``TWOSTEP_TRANSLATIONS_DIR``).

``ALIASES`` maps a file key to the msgid it overrides. Each error of spec section 5 has two:
``totp.<code without underscores>`` (the shape of MIB LockServer's dictionary, so
``totp.invalidcode``, ``totp.operationdisabled``) and ``errors.<code>``
(``errors.invalid_code``). Web modules with texts of their own add their keys here when they
are imported; the runtime reads the override files with this mapping when the app starts.
"""

from __future__ import annotations

from twostep import errors

__all__ = ["ALIASES", "error_aliases"]


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


ALIASES: dict[str, str] = error_aliases()
