"""The lockout schedule after consecutive wrong codes (NIST SP 800-63B section 5.2.2)."""

from functools import cache

__all__ = [
    "BASE_DELAY",
    "MAX_DELAY",
    "SUSPEND_AFTER",
    "delay_table",
    "is_suspended",
    "lockout_delay",
]

BASE_DELAY = 30  # seconds of lock at the max_failures-th failure
MAX_DELAY = 3600  # one hour
SUSPEND_AFTER = 100  # NIST SP 800-63B section 5.2.2: no more than 100 consecutive failures


def lockout_delay(failures: int, max_failures: int, max_delay: int = MAX_DELAY) -> int:
    """Seconds of lock after the `failures`-th consecutive failure: 30, 60, 120, ... up to
    `max_delay` (an hour for codes)."""
    if max_failures < 1:
        raise ValueError(f"max_failures must be >= 1, got {max_failures}")
    if failures < max_failures:
        return 0
    doublings = min(failures - max_failures, max_delay.bit_length())  # keeps the int small
    return min(BASE_DELAY << doublings, max_delay)


@cache
def delay_table(max_failures: int, max_delay: int = MAX_DELAY) -> tuple[tuple[int, int], ...]:
    """Return ((failures, delay), ...) from max_failures to the first capped delay, for a SQL
    CASE. Computed once per schedule: every code check asks for it."""
    table = [(max_failures, lockout_delay(max_failures, max_failures, max_delay))]
    while table[-1][1] < max_delay:
        failures = table[-1][0] + 1
        table.append((failures, lockout_delay(failures, max_failures, max_delay)))
    return tuple(table)


def is_suspended(failures: int) -> bool:
    """Whether `failures` consecutive failures suspend the authenticator (NIST SP 800-63B 5.2.2)."""
    return failures >= SUSPEND_AFTER
