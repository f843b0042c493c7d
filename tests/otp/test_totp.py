"""RFC 6238: the Appendix B vectors, parameters, time steps and the acceptance window."""

import hmac
import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from twostep.otp.hotp import Algorithm
from twostep.otp.totp import Match, TotpParams, code_at, code_for_step, find_step, time_step

# RFC 6238 Appendix B: the seed of each algorithm is "1234567890" repeated to the hash size.
SEEDS = {
    Algorithm.SHA1: b"12345678901234567890",
    Algorithm.SHA256: b"12345678901234567890123456789012",
    Algorithm.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}

# (Unix time, T in hex, SHA1, SHA256, SHA512), 8 digits, X = 30, T0 = 0.
RFC6238_TABLE = [
    (59, 0x1, "94287082", "46119246", "90693936"),
    (1111111109, 0x23523EC, "07081804", "68084774", "25091201"),
    (1111111111, 0x23523ED, "14050471", "67062674", "99943326"),
    (1234567890, 0x273EF07, "89005924", "91819424", "93441116"),
    (2000000000, 0x3F940AA, "69279037", "90698825", "38618901"),
    (20000000000, 0x27BC86AA, "65353130", "77737706", "47863826"),
]
RFC6238_VECTORS = [
    pytest.param(now, step, algorithm, code, id=f"{algorithm}-{now}")
    for now, step, *codes in RFC6238_TABLE
    for algorithm, code in zip(Algorithm, codes, strict=True)
]


@pytest.mark.parametrize(("now", "step", "algorithm", "expected"), RFC6238_VECTORS)
def test_rfc6238_appendix_b(now: int, step: int, algorithm: Algorithm, expected: str) -> None:
    params = TotpParams(algorithm=algorithm, digits=8, period=30)
    assert time_step(now, 30) == step
    assert code_at(SEEDS[algorithm], params, now) == expected
    assert code_for_step(SEEDS[algorithm], params, step) == expected


@pytest.mark.parametrize(
    ("now", "period", "step"),
    [(0, 30, 0), (29.999, 30, 0), (30, 30, 1), (59, 30, 1), (60.0, 30, 2), (119, 120, 0)],
)
def test_time_step_floors(now: float, period: int, step: int) -> None:
    assert time_step(now, period) == step


@pytest.mark.parametrize(("now", "period"), [(-1, 30), (math.nan, 30), (math.inf, 30), (5, 0)])
def test_time_step_rejects(now: float, period: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        time_step(now, period)


def test_params_defaults() -> None:
    assert TotpParams() == TotpParams(Algorithm.SHA1, 6, 30)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"digits": 5},
        {"digits": 9},
        {"digits": True},
        {"period": 14},
        {"period": 121},
        {"period": 30.0},
        {"algorithm": "MD5"},
    ],
)
def test_params_reject(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must be|is not a valid"):
        TotpParams(**kwargs)


def test_params_coerce_algorithm_string() -> None:
    assert TotpParams(algorithm="SHA512").algorithm is Algorithm.SHA512  # type: ignore[arg-type]


KEY = b"\x01" * 20
NOW = 1_700_000_000
CURRENT = NOW // 30


def test_find_step_current_code() -> None:
    assert find_step(KEY, TotpParams(), code_at(KEY, TotpParams(), NOW), now=NOW) == Match(
        CURRENT, replayed=False
    )


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "12a456", " 123456", "123456\n", "١٢٣٤٥٦", "+12345"]
)
def test_find_step_malformed_code_is_no_match(code: str) -> None:
    assert find_step(KEY, TotpParams(), code, now=NOW) is None


@pytest.mark.parametrize(("past", "future"), [(-1, 1), (1, -1), (11, 0), (0, 11)])
def test_find_step_window_bounds(past: int, future: int) -> None:
    with pytest.raises(ValueError, match="tokens"):
        find_step(
            KEY, TotpParams(), "123456", now=NOW, valid_past_tokens=past, valid_future_tokens=future
        )


@pytest.mark.parametrize("matching", [True, False])
def test_find_step_compares_every_candidate(
    monkeypatch: pytest.MonkeyPatch, matching: bool
) -> None:
    real_compare = hmac.compare_digest
    calls: list[str] = []

    def counting(a: str, b: str) -> bool:
        calls.append(a)
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    window = [code_for_step(KEY, TotpParams(), s) for s in range(CURRENT - 3, CURRENT + 3)]
    # The oldest candidate's code: a search that stops at the first match would stop there.
    code = (
        window[0]
        if matching
        else next(f"{i:06d}" for i in range(10**6) if f"{i:06d}" not in window)
    )
    match = find_step(KEY, TotpParams(), code, now=NOW, valid_past_tokens=3, valid_future_tokens=2)
    assert (match is not None) == matching
    assert calls == window


def test_find_step_near_epoch_skips_negative_steps() -> None:
    code = code_for_step(KEY, TotpParams(), 0)
    assert find_step(KEY, TotpParams(), code, now=10, valid_past_tokens=5) == Match(0, False)


# Under this key steps CURRENT - 9 and CURRENT - 8 share the code 434732 (found by search).
COLLIDING_KEY = b"collision-022136"


def test_colliding_key_collides() -> None:
    codes = [code_for_step(COLLIDING_KEY, TotpParams(), CURRENT - n) for n in (9, 8)]
    assert codes == ["434732", "434732"]


@pytest.mark.parametrize(
    ("floor", "replayed"),
    [
        (None, False),
        (CURRENT - 10, False),
        (CURRENT - 9, False),
        (CURRENT - 8, True),
        (CURRENT, True),
    ],
)
def test_collision_prefers_the_newest_step_above_the_floor(
    floor: int | None, replayed: bool
) -> None:
    match = find_step(
        COLLIDING_KEY, TotpParams(), "434732", now=NOW, valid_past_tokens=9, replay_floor=floor
    )
    assert match == Match(CURRENT - 8, replayed=replayed)


keys = st.binary(min_size=1, max_size=64)
params_st = st.builds(
    TotpParams,
    algorithm=st.sampled_from(Algorithm),
    digits=st.integers(6, 8),
    period=st.integers(15, 120),
)
nows = st.floats(min_value=1_000_000, max_value=2.0**34, allow_nan=False)
windows = st.integers(0, 10)


def _window(params: TotpParams, now: float, past: int, future: int) -> range:
    current = time_step(now, params.period)
    return range(current - past, current + future + 1)


@settings(max_examples=60)
@given(keys, params_st, nows, windows, windows, st.data())
def test_find_step_finds_every_step_in_the_window(
    key: bytes, params: TotpParams, now: float, past: int, future: int, data: st.DataObject
) -> None:
    window = _window(params, now, past, future)
    target = data.draw(st.sampled_from(window))
    code = code_for_step(key, params, target)
    match = find_step(
        key, params, code, now=now, valid_past_tokens=past, valid_future_tokens=future
    )
    assert match is not None
    assert not match.replayed
    # The newest step with this code: the target itself unless a later step collides.
    assert match.step == max(s for s in window if code_for_step(key, params, s) == code)


@settings(max_examples=60)
@given(keys, params_st, nows, windows, windows, st.integers(1, 1000), st.booleans())
def test_find_step_finds_nothing_outside_the_window(
    key: bytes,
    params: TotpParams,
    now: float,
    past: int,
    future: int,
    distance: int,
    before: bool,
) -> None:
    window = _window(params, now, past, future)
    target = window.start - distance if before else window.stop - 1 + distance
    code = code_for_step(key, params, target)
    assume(all(code_for_step(key, params, s) != code for s in window))  # no chance collision
    assert (
        find_step(key, params, code, now=now, valid_past_tokens=past, valid_future_tokens=future)
        is None
    )


@settings(max_examples=60)
@given(keys, params_st, nows, windows, windows, st.data(), st.integers(-15, 15), st.integers(0, 5))
def test_replay_floor_is_monotonic(
    key: bytes,
    params: TotpParams,
    now: float,
    past: int,
    future: int,
    data: st.DataObject,
    floor_offset: int,
    raise_by: int,
) -> None:
    window = _window(params, now, past, future)
    code = code_for_step(key, params, data.draw(st.sampled_from(window)))
    low_floor = time_step(now, params.period) + floor_offset
    kwargs: dict[str, Any] = {"now": now, "valid_past_tokens": past, "valid_future_tokens": future}
    low = find_step(key, params, code, replay_floor=low_floor, **kwargs)
    high = find_step(key, params, code, replay_floor=low_floor + raise_by, **kwargs)
    assert low is not None
    assert high is not None
    assert low.step == high.step  # the floor decides replay, never which step matched
    assert low.replayed == (low.step <= low_floor)  # a step <= floor is always a replay
    assert high.replayed or not low.replayed  # raising the floor never un-replays
