"""Our codes against independent implementations: oathtool and pyotp."""

import hashlib
import shutil
import subprocess
from collections.abc import Callable

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twostep.otp.hotp import Algorithm
from twostep.otp.secret import b32encode
from twostep.otp.totp import TotpParams, code_at, code_for_step, time_step
from twostep.otp.uri import KeyUri, build_key_uri, parse_key_uri

DIGESTS: dict[Algorithm, Callable[..., "hashlib._Hash"]] = {
    Algorithm.SHA1: hashlib.sha1,
    Algorithm.SHA256: hashlib.sha256,
    Algorithm.SHA512: hashlib.sha512,
}
KEY_BYTES = {Algorithm.SHA1: 20, Algorithm.SHA256: 32, Algorithm.SHA512: 64}
TIMES = [1, 59, 1111111109, 1234567890, 1700000000, 2000000000, 20000000000]
WINDOW = 4  # consecutive steps checked from each time

PARAM_SETS = [
    pytest.param(TotpParams(algorithm, digits, period), id=f"{algorithm}-{digits}-{period}")
    for algorithm in Algorithm
    for digits in (6, 7, 8)
    for period in (15, 30, 60, 120)
]


def _key(params: TotpParams) -> bytes:
    # A different, reproducible key per parameter set, sized to the hash.
    seed = f"{params.algorithm}/{params.digits}/{params.period}".encode()
    return hashlib.sha512(seed).digest()[: KEY_BYTES[params.algorithm]]


def _ours(key: bytes, params: TotpParams, now: int) -> list[str]:
    step = time_step(now, params.period)
    return [code_for_step(key, params, step + i) for i in range(WINDOW)]


@pytest.mark.skipif(shutil.which("oathtool") is None, reason="oathtool is not installed")
@pytest.mark.parametrize("params", PARAM_SETS)
def test_codes_agree_with_oathtool(params: TotpParams) -> None:
    key = _key(params)
    for now in TIMES:
        command = [
            "oathtool",
            f"--totp={params.algorithm.lower()}",
            f"--digits={params.digits}",
            f"--time-step-size={params.period}s",
            f"--window={WINDOW - 1}",  # prints the code of `now` and the next WINDOW - 1 steps
            "--base32",
            f"--now=@{now}",
            b32encode(key),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=10)
        assert result.stdout.split() == _ours(key, params, now), now


@pytest.mark.parametrize("params", PARAM_SETS)
def test_codes_agree_with_pyotp(params: TotpParams) -> None:
    key = _key(params)
    theirs = pyotp.TOTP(
        b32encode(key),
        digits=params.digits,
        digest=DIGESTS[params.algorithm],
        interval=params.period,
    )
    for now in TIMES:
        for offset in range(0, WINDOW * params.period, params.period // 2):
            assert code_at(key, params, now + offset) == theirs.at(now + offset)


params_st = st.builds(
    TotpParams,
    algorithm=st.sampled_from(Algorithm),
    digits=st.integers(6, 8),
    period=st.integers(15, 120),
)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
    lambda s: s == s.strip()
)
times = st.integers(0, 2**33)


@settings(max_examples=60)
@given(st.binary(min_size=20, max_size=64), names, st.none() | names, params_st, times)
def test_our_uri_read_by_pyotp(
    secret: bytes, account: str, issuer: str | None, params: TotpParams, now: int
) -> None:
    theirs = pyotp.parse_uri(build_key_uri(KeyUri(secret, account, issuer, params)))
    assert isinstance(theirs, pyotp.TOTP)
    assert (theirs.name, theirs.issuer) == (account, issuer)
    assert theirs.at(now) == code_at(secret, params, now)


@settings(max_examples=60)
@given(st.binary(min_size=20, max_size=64), names, st.none() | names, params_st, times)
def test_pyotp_uri_read_by_us(
    secret: bytes, account: str, issuer: str | None, params: TotpParams, now: int
) -> None:
    totp = pyotp.TOTP(
        b32encode(secret),
        digits=params.digits,
        digest=DIGESTS[params.algorithm],
        interval=params.period,
    )
    ours = parse_key_uri(totp.provisioning_uri(name=account, issuer_name=issuer))
    assert ours == KeyUri(secret, account, issuer, params)
    assert code_at(ours.secret, ours.params, now) == totp.at(now)
