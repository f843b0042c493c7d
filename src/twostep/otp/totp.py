"""TOTP, the time-based one-time password of RFC 6238, with an acceptance window."""

import hmac
import math
from dataclasses import dataclass

from twostep.otp.drift import bounded_centre
from twostep.otp.hotp import MAX_DIGITS, MIN_DIGITS, Algorithm, hotp

__all__ = [
    "MAX_PERIOD",
    "MAX_WINDOW",
    "MIN_PERIOD",
    "Match",
    "TotpParams",
    "code_at",
    "code_for_step",
    "find_step",
    "normalize_code",
    "time_step",
]

MIN_PERIOD = 15
MAX_PERIOD = 120
MAX_WINDOW = 10


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")


@dataclass(frozen=True, slots=True)
class TotpParams:
    """The parameters an authenticator was enrolled with (RFC 6238 section 4)."""

    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    period: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithm", Algorithm(self.algorithm))
        _check_range("digits", self.digits, MIN_DIGITS, MAX_DIGITS)
        _check_range("period", self.period, MIN_PERIOD, MAX_PERIOD)


@dataclass(frozen=True, slots=True)
class Match:
    """The step a code matched; `replayed` when that step is at or below the replay floor."""

    step: int
    replayed: bool


def time_step(now: float, period: int) -> int:
    """Return T = floor((now - T0) / X) with T0 = 0 (RFC 6238 section 4.2)."""
    if period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    if not math.isfinite(now) or now < 0:
        raise ValueError(f"now must be a finite Unix time >= 0, got {now}")
    return int(now // period)


def code_for_step(key: bytes, params: TotpParams, step: int) -> str:
    """Return the code of time step `step` (RFC 6238 section 4.2)."""
    return hotp(key, step, digits=params.digits, algorithm=params.algorithm)


def code_at(key: bytes, params: TotpParams, now: float) -> str:
    """Return the code valid at Unix time `now` (RFC 6238 section 4.2)."""
    return code_for_step(key, params, time_step(now, params.period))


def find_step(
    key: bytes,
    params: TotpParams,
    code: str,
    *,
    now: float,
    valid_past_tokens: int = 1,
    valid_future_tokens: int = 1,
    replay_floor: int | None = None,
    centre: int = 0,
) -> Match | None:
    """Return the newest step in the window whose code equals `code` (RFC 6238 section 5.2);
    `code` as typed, spaces and dashes included. The window is centred `centre` steps from the
    current one (a learned drift), held to at most `valid_past_tokens` back and
    `valid_future_tokens` forward: it moves, it never widens."""
    _check_range("valid_past_tokens", valid_past_tokens, 0, MAX_WINDOW)
    _check_range("valid_future_tokens", valid_future_tokens, 0, MAX_WINDOW)
    centre = bounded_centre(
        centre, valid_past_tokens=valid_past_tokens, valid_future_tokens=valid_future_tokens
    )
    current = time_step(now, params.period) + centre
    code = normalize_code(code) if isinstance(code, str) else code
    if not _well_formed(code, params.digits):
        return None
    newest: int | None = None
    # Every candidate is computed and compared: the work does not depend on which one matches.
    for step in range(max(current - valid_past_tokens, 0), current + valid_future_tokens + 1):
        if hmac.compare_digest(code_for_step(key, params, step), code):
            newest = step
    if newest is None:
        return None
    return Match(step=newest, replayed=replay_floor is not None and newest <= replay_floor)


def normalize_code(code: str) -> str:
    """The code without the spaces and dashes people type to read it (`123 456`, `123-456`)."""
    return "".join(code.split()).replace("-", "")


def _well_formed(code: str, digits: int) -> bool:
    return isinstance(code, str) and len(code) == digits and code.isascii() and code.isdigit()
