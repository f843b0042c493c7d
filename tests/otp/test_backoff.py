"""The lockout schedule and suspension threshold."""

import pytest

from twostep.otp.backoff import (
    MAX_DELAY,
    SUSPEND_AFTER,
    delay_table,
    is_suspended,
    lockout_delay,
)

SCHEDULE = [30, 60, 120, 240, 480, 960, 1920, 3600]


@pytest.mark.parametrize("max_failures", [1, 3, 5, 10])
def test_no_lock_before_max_failures(max_failures: int) -> None:
    assert [lockout_delay(f, max_failures) for f in range(max_failures)] == [0] * max_failures


@pytest.mark.parametrize("max_failures", [1, 5, 10])
def test_schedule_doubles_from_30_seconds_to_the_one_hour_cap(max_failures: int) -> None:
    delays = [lockout_delay(max_failures + extra, max_failures) for extra in range(12)]
    assert delays == SCHEDULE + [MAX_DELAY] * 4


def test_delay_is_capped_for_huge_failure_counts() -> None:
    assert lockout_delay(10**9, 5) == MAX_DELAY


def test_max_failures_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        lockout_delay(3, 0)


@pytest.mark.parametrize("max_failures", [1, 5, 7])
def test_delay_table_covers_the_schedule_up_to_the_cap(max_failures: int) -> None:
    table = delay_table(max_failures)
    assert table == tuple((max_failures + i, d) for i, d in enumerate(SCHEDULE))
    assert table == tuple((f, lockout_delay(f, max_failures)) for f, _ in table)


@pytest.mark.parametrize(
    ("failures", "suspended"), [(0, False), (SUSPEND_AFTER - 1, False), (100, True), (500, True)]
)
def test_suspension_after_100_failures(failures: int, suspended: bool) -> None:
    assert SUSPEND_AFTER == 100
    assert is_suspended(failures) is suspended
