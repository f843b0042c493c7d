"""The otpauth:// Key URI format that authenticator apps read from a QR code."""

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from twostep.otp.hotp import Algorithm
from twostep.otp.secret import b32decode, b32encode
from twostep.otp.totp import TotpParams

__all__ = ["KeyUri", "build_key_uri", "parse_key_uri"]

_KNOWN_PARAMS = ("secret", "issuer", "algorithm", "digits", "period")


@dataclass(frozen=True, slots=True)
class KeyUri:
    """What a Key URI carries: the secret, the label and the TOTP parameters."""

    secret: bytes = field(repr=False)  # a logged KeyUri must not leak the key
    account: str
    issuer: str | None
    params: TotpParams

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("a Key URI needs a non-empty secret")
        if not self.account:
            raise ValueError("a Key URI needs a non-empty account name")


def _quote(text: str) -> str:
    # safe="" so ':' '/' '&' '?' are encoded too; quote never turns a space into '+'.
    return quote(text, safe="")


def build_key_uri(key: KeyUri) -> str:
    """Return `otpauth://totp/<Issuer>:<account>?secret=..` with every parameter spelled out."""
    label = _quote(key.account)
    query = [("secret", b32encode(key.secret))]
    if key.issuer is not None:
        label = f"{_quote(key.issuer)}:{label}"
        query.append(("issuer", key.issuer))
    query += [
        ("algorithm", key.params.algorithm.value),
        ("digits", str(key.params.digits)),
        ("period", str(key.params.period)),
    ]
    return f"otpauth://totp/{label}?" + "&".join(f"{k}={_quote(v)}" for k, v in query)


def parse_key_uri(uri: str) -> KeyUri:
    """Parse a TOTP Key URI as built here or by other apps; anything else is a ValueError."""
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != "otpauth":
        raise ValueError("not an otpauth:// URI")
    if parts.netloc.lower() != "totp":
        raise ValueError(f"unsupported OTP type {parts.netloc!r}, only totp is")
    query = _query(parts.query)
    label_issuer, account = _split_label(parts.path, query.get("issuer"))
    params = TotpParams(
        algorithm=_algorithm(query.get("algorithm", "SHA1")),
        digits=_integer("digits", query.get("digits", "6")),
        period=_integer("period", query.get("period", "30")),
    )
    secret = b32decode(query.get("secret", ""))
    issuer = query.get("issuer", label_issuer)
    return KeyUri(secret=secret, account=account, issuer=issuer, params=params)


def _query(text: str) -> dict[str, str]:
    # Query values are form-encoded by many apps, so parse_qsl's '+' -> ' ' is right here.
    query: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="strict"):
        if name in _KNOWN_PARAMS and name in query:
            raise ValueError(f"duplicate {name!r} parameter")
        query[name] = value
    return query


def _split_label(path: str, query_issuer: str | None) -> tuple[str | None, str]:
    # Split on a literal ':' before unquoting, so an encoded '%3A' stays inside a name.
    # Only unquote (not unquote_plus): a '+' in the path is a plus sign.
    # Spaces after the separator are optional padding in the Key URI format, not the name.
    raw = path.removeprefix("/")
    if ":" in raw:
        raw_issuer, raw_account = raw.split(":", 1)
        return _unquote(raw_issuer), _unquote(raw_account).lstrip(" ")
    label = _unquote(raw)
    # Some apps encode the separator too; trust it only when the issuer parameter confirms it.
    if query_issuer and label.startswith(f"{query_issuer}:"):
        return query_issuer, label[len(query_issuer) + 1 :].lstrip(" ")
    return None, label


def _unquote(text: str) -> str:
    return unquote(text, errors="strict")


def _algorithm(text: str) -> Algorithm:
    try:
        return Algorithm(text.upper())
    except ValueError:
        raise ValueError(f"unsupported algorithm {text!r}") from None


def _integer(name: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 4:
        raise ValueError(f"{name} must be a small decimal integer, got {text!r}")
    return int(text)
