"""Recovery codes: single-use random codes in a readable, forgiving form."""

import secrets

__all__ = [
    "MAX_RECOVERY_CODES",
    "RECOVERY_ALPHABET",
    "RECOVERY_CODE_BITS",
    "RECOVERY_CODE_LENGTH",
    "format_recovery_code",
    "new_recovery_code",
    "new_recovery_codes",
    "normalize_recovery_code",
]

# Crockford's Base32 in lower case: no i, l, o, u, so nothing reads as another character.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_CODE_LENGTH = 16
RECOVERY_CODE_BITS = 80  # 16 characters x 5 bits
MAX_RECOVERY_CODES = 20
_GROUP = 4
_DROPPED = str.maketrans("", "", " \t\r\n-_")
_CONFUSABLE = str.maketrans("ilo", "110")


def new_recovery_code() -> str:
    """Draw a code of 80 random bits, grouped as 'xxxx-xxxx-xxxx-xxxx'."""
    chars = (secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return format_recovery_code("".join(chars))


def new_recovery_codes(count: int) -> list[str]:
    """Draw `count` (1..20) distinct recovery codes."""
    if not 1 <= count <= MAX_RECOVERY_CODES:
        raise ValueError(f"count must be in 1..{MAX_RECOVERY_CODES}, got {count}")
    codes: dict[str, None] = {}
    while len(codes) < count:  # a repeat is astronomically unlikely, but cheap to rule out
        codes[new_recovery_code()] = None
    return list(codes)


def normalize_recovery_code(text: str) -> str:
    """Return the canonical 16-character form of typed input, or '' if it cannot be a code."""
    if not isinstance(text, str) or not text.isascii():
        return ""
    canonical = text.lower().translate(_DROPPED).translate(_CONFUSABLE)
    if len(canonical) != RECOVERY_CODE_LENGTH or not set(canonical) <= set(RECOVERY_ALPHABET):
        return ""
    return canonical


def format_recovery_code(canonical: str) -> str:
    """Group a canonical code by four characters with dashes, as it is shown to the user."""
    return "-".join(canonical[i : i + _GROUP] for i in range(0, len(canonical), _GROUP))
