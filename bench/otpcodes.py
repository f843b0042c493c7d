"""RFC 4226 / RFC 6238 codes (SHA1, 6 digits, 30 s) for the load generators, stdlib only.

The benchmark computes its own codes so it does not depend on the code it measures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct
import time

__all__ = [
    "PERIOD",
    "b32decode",
    "current_step",
    "hotp",
    "wait_for_room",
    "wrong_code",
]

PERIOD = 30
DIGITS = 6


def hotp(key: bytes, counter: int) -> str:
    """HOTP value of ``counter`` (RFC 4226 section 5.3, dynamic truncation)."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def current_step(now: float | None = None) -> int:
    """RFC 6238 time step T = floor(unix time / 30)."""
    return int((time.time() if now is None else now) // PERIOD)


def b32decode(secret: str) -> bytes:
    """Base32 secret as shown in a key URI (no padding, any case) to raw key bytes."""
    cleaned = secret.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def wrong_code(key: bytes, step: int, rnd: random.Random, spread: range = range(-3, 5)) -> str:
    """A 6-digit code that matches none of the steps ``step + d`` for d in ``spread``."""
    near = {hotp(key, step + d) for d in spread}
    while True:
        code = f"{rnd.randrange(10**DIGITS):06d}"
        if code not in near:
            return code


def wait_for_room(seconds: float, now: float | None = None) -> float:
    """Sleep into the next time step if fewer than ``seconds`` are left in this one.

    Returns the seconds slept (at most one period). Used where the checker accepts the
    current step only, so a run does not straddle a step boundary.
    """
    if seconds >= PERIOD - 1:
        return 0.0
    now = time.time() if now is None else now
    left = PERIOD - now % PERIOD
    if left >= seconds:
        return 0.0
    pause = left + 0.2
    time.sleep(pause)
    return pause
