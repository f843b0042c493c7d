"""Write docs/conformance.md: Twostep's OTP core against the RFC vectors, oathtool and pyotp.

Run with the project's virtualenv (`make conformance`); `--check` exits 1 when the committed
file differs. Deterministic: fixed keys and times, no dates, so the file changes only when a
result does.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import pyotp

from twostep.otp import (
    Algorithm,
    KeyUri,
    TotpParams,
    build_key_uri,
    code_for_step,
    hotp,
    normalize_recovery_code,
    parse_key_uri,
    time_step,
)
from twostep.otp.recovery import RECOVERY_ALPHABET, RECOVERY_CODE_BITS, RECOVERY_CODE_LENGTH

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "conformance.md"
RFC4226_KEY = b"12345678901234567890"
RFC4226_CODES = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]
RFC6238_KEYS = {
    Algorithm.SHA1: RFC4226_KEY,
    Algorithm.SHA256: b"12345678901234567890123456789012",
    Algorithm.SHA512: b"1234567890" * 6 + b"1234",
}
RFC6238_CODES = {
    59: ("94287082", "46119246", "90693936"),
    1111111109: ("07081804", "68084774", "25091201"),
    1111111111: ("14050471", "67062674", "99943326"),
    1234567890: ("89005924", "91819424", "93441116"),
    2000000000: ("69279037", "90698825", "38618901"),
    20000000000: ("65353130", "77737706", "47863826"),
}
MATRIX_TIMES = (59, 1111111109, 1234567890, 1700000000, 2000000000, 20000000000)
KEY_BYTES = {Algorithm.SHA1: 20, Algorithm.SHA256: 32, Algorithm.SHA512: 64}
DIGESTS = {Algorithm.SHA1: hashlib.sha1, Algorithm.SHA256: hashlib.sha256}
DIGESTS[Algorithm.SHA512] = hashlib.sha512
RECOVERY_INPUTS = (
    "abcd-efgh-jkmn-pqrs",
    "ABCD EFGH JKMN PQRS",
    "abcdefghjkmnpqrs",
    "0ol1-i234-5678-9abc",
    "abcd-efgh-jkmn-pqr",
    "abcd-efgh-jkmn-pqru",
    "abcd-efgh-jkmn-pqré",
)
URI_INPUTS = (
    "otpauth://totp/ACME%20Co:ann@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co",
    "otpauth://totp/ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=sha256&digits=8&period=60",
    "otpauth://totp/ACME:ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME&digits=7&period=15",
    "otpauth://totp/ACME%3Aann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME",
    "otpauth://hotp/ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0",
    "otpauth://totp/ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=MD5",
)


def oathtool(*args: str) -> list[str]:
    out = subprocess.run(["oathtool", *args], capture_output=True, text=True, check=True)
    return out.stdout.split()


def mark(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def rfc4226() -> list[str]:
    lines = [
        "| counter | RFC 4226 | Twostep | oathtool | pyotp | all agree |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    tool = oathtool("--hotp", "--window=9", "--counter=0", RFC4226_KEY.hex())
    theirs = pyotp.HOTP(base64.b32encode(RFC4226_KEY).decode())
    for counter, expected in enumerate(RFC4226_CODES):
        ours = hotp(RFC4226_KEY, counter)
        row = [str(counter), expected, ours, tool[counter], theirs.at(counter)]
        row.append(mark(len(set(row[1:])) == 1))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def rfc6238() -> list[str]:
    lines = [
        "| time | algorithm | RFC 6238 | Twostep | oathtool | pyotp | all agree |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for now, codes in RFC6238_CODES.items():
        for algorithm, expected in zip(Algorithm, codes, strict=True):
            key, params = RFC6238_KEYS[algorithm], TotpParams(algorithm, 8, 30)
            ours = code_for_step(key, params, time_step(now, 30))
            tool = oathtool(*_oath_args(params, now), key.hex())[0]
            theirs = _pyotp(key, params).at(now)
            row = [str(now), algorithm.value, expected, ours, tool, theirs]
            row.append(mark(len(set(row[2:])) == 1))
            lines.append("| " + " | ".join(row) + " |")
    return lines


def _oath_args(params: TotpParams, now: int) -> list[str]:
    return [
        f"--totp={params.algorithm.lower()}",
        f"--digits={params.digits}",
        f"--time-step-size={params.period}s",
        f"--now=@{now}",
    ]


def _pyotp(key: bytes, params: TotpParams) -> pyotp.TOTP:
    secret = base64.b32encode(key).decode()
    return pyotp.TOTP(
        secret, digits=params.digits, digest=DIGESTS[params.algorithm], interval=params.period
    )


def matrix() -> list[str]:
    lines = [
        "| algorithm | digits | period | times | code at 1234567890 | = oathtool | = pyotp |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for algorithm in Algorithm:
        for digits in (6, 7, 8):
            for period in (15, 30, 60, 120):
                lines.append(_matrix_row(TotpParams(algorithm, digits, period)))
    return lines


def _matrix_row(params: TotpParams) -> str:
    seed = f"{params.algorithm}/{params.digits}/{params.period}".encode()
    key = hashlib.sha512(seed).digest()[: KEY_BYTES[params.algorithm]]
    ours = [code_for_step(key, params, time_step(t, params.period)) for t in MATRIX_TIMES]
    tool = [oathtool(*_oath_args(params, t), key.hex())[0] for t in MATRIX_TIMES]
    theirs = [_pyotp(key, params).at(t) for t in MATRIX_TIMES]
    sample = ours[MATRIX_TIMES.index(1234567890)]
    cells = [params.algorithm.value, str(params.digits), f"{params.period} s"]
    cells += [str(len(MATRIX_TIMES)), sample, mark(ours == tool), mark(ours == theirs)]
    return "| " + " | ".join(cells) + " |"


def recovery() -> list[str]:
    lines = ["| typed | accepted as |", "| --- | --- |"]
    for text in RECOVERY_INPUTS:
        canonical = normalize_recovery_code(text)
        lines.append(f"| `{text}` | {f'`{canonical}`' if canonical else 'refused'} |")
    return lines


def _described(issuer: str | None, account: str, algorithm: str, digits: int, period: int) -> str:
    return f"{issuer or '-'} / {account}, {algorithm}, {digits} digits, {period} s"


def _ours_reads(uri: str) -> str:
    try:
        key = parse_key_uri(uri)
    except ValueError as exc:
        return f"refused: {exc}"
    p = key.params
    return _described(key.issuer, key.account, p.algorithm.value, p.digits, p.period)


def _pyotp_reads(uri: str) -> str:
    try:
        otp = pyotp.parse_uri(uri)
    except ValueError as exc:
        return f"refused: {exc}"
    if not isinstance(otp, pyotp.TOTP):
        return f"a {type(otp).__name__}, not a TOTP"
    algorithm = otp.digest().name.upper()
    return _described(otp.issuer, otp.name, algorithm, otp.digits, otp.interval)


def uris_read() -> list[str]:
    lines = ["| key URI | Twostep reads | pyotp reads |", "| --- | --- | --- |"]
    for uri in URI_INPUTS:
        lines.append(f"| `{uri}` | {_ours_reads(uri)} | {_pyotp_reads(uri)} |")
    return lines


def uris_built() -> list[str]:
    lines = ["| parameters | key URI Twostep builds | pyotp's code = ours |", "| --- | --- | --- |"]
    for algorithm, digits, period in ((Algorithm.SHA1, 6, 30), (Algorithm.SHA256, 8, 60)):
        params = TotpParams(algorithm, digits, period)
        key = RFC6238_KEYS[algorithm]
        uri = build_key_uri(KeyUri(key, "ann@example.com", "ACME Co", params))
        ours = code_for_step(key, params, time_step(1234567890, period))
        theirs = pyotp.parse_uri(uri)
        same = isinstance(theirs, pyotp.TOTP) and theirs.at(1234567890) == ours
        lines.append(f"| {algorithm.value}, {digits}, {period} s | `{uri}` | {mark(same)} |")
    return lines


INTRO = """# Conformance

Generated by `make conformance` (`scripts/conformance.py`); `tests/otp/test_conformance.py`
fails when this file is not current. Every code below is computed three times: by Twostep's
own `otp` package, by `oathtool` (OATH Toolkit) and by `pyotp`.
"""


def sections() -> list[tuple[str, str, list[str]]]:
    return [
        ("RFC 4226 (HOTP), appendix D", "Key `12345678901234567890`, 6 digits.", rfc4226()),
        (
            "RFC 6238 (TOTP), appendix B",
            "The RFC's keys for each hash, 8 digits, 30 s steps.",
            rfc6238(),
        ),
        (
            "Every supported algorithm, length and period",
            f"A fixed key per row (sized to the hash), checked at {len(MATRIX_TIMES)} times: "
            + ", ".join(str(t) for t in MATRIX_TIMES)
            + ".",
            matrix(),
        ),
        (
            "Recovery codes",
            f"{RECOVERY_CODE_LENGTH} characters of `{RECOVERY_ALPHABET}` ({RECOVERY_CODE_BITS} "
            "random bits), shown as four groups of four. Typed input is forgiven: case, spaces "
            "and dashes are ignored, `i`/`l` read as `1` and `o` as `0`; anything else is refused.",
            recovery(),
        ),
        (
            "Key URIs read",
            "`otpauth://totp/` URIs as authenticator apps and other servers write them.",
            uris_read(),
        ),
        (
            "Key URIs built",
            "What enrollment hands the authenticator app: every parameter spelled out.",
            uris_built(),
        ),
    ]


def render() -> str:
    parts = [INTRO]
    for title, text, table in sections():
        parts.append(f"## {title}\n\n{text}\n\n" + "\n".join(table) + "\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is not current: run make conformance", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
