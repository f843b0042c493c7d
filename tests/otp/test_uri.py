"""The otpauth:// Key URI: exact output, what other apps write, and round trips."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from twostep.otp.hotp import Algorithm
from twostep.otp.secret import b32decode
from twostep.otp.totp import TotpParams
from twostep.otp.uri import KeyUri, build_key_uri, parse_key_uri

KEY = b"12345678901234567890"
B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_build_spells_out_every_parameter() -> None:
    uri = build_key_uri(KeyUri(KEY, "alice@example.com", "ACME Co", TotpParams()))
    assert uri == (
        f"otpauth://totp/ACME%20Co:alice%40example.com?secret={B32}"
        "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
    )


def test_build_encodes_reserved_characters_and_never_uses_plus() -> None:
    params = TotpParams(Algorithm.SHA512, 8, 60)
    uri = build_key_uri(KeyUri(b"\xff" * 20, "a:b/c?d&e+f g%", "I&J", params))
    assert uri == (
        "otpauth://totp/I%26J:a%3Ab%2Fc%3Fd%26e%2Bf%20g%25?secret="
        + "7" * 32
        + "&issuer=I%26J&algorithm=SHA512&digits=8&period=60"
    )


def test_build_without_issuer() -> None:
    uri = build_key_uri(KeyUri(KEY, "bob", None, TotpParams()))
    assert uri == f"otpauth://totp/bob?secret={B32}&algorithm=SHA1&digits=6&period=30"


ALICE = "alice@google.com"
OTHER_APPS = [
    # Google's Key URI examples, and the forms other apps write.
    (f"otpauth://totp/Example:{ALICE}?secret={B32}&issuer=Example", "Example", ALICE),
    (f"otpauth://totp/Example:{ALICE}?secret={B32}", "Example", ALICE),
    (f"otpauth://totp/{ALICE}?secret={B32}&issuer=Example", "Example", ALICE),
    (f"otpauth://totp/{ALICE}?secret={B32}", None, ALICE),
    (f"otpauth://totp/Example%3Aalice?secret={B32}&issuer=Example", "Example", "alice"),
    (f"otpauth://totp/Big%20Corp%3A%20alice?secret={B32}&issuer=Big+Corp", "Big Corp", "alice"),
    (f"otpauth://totp/Example:%20alice?secret={B32}", "Example", "alice"),
    (f"otpauth://totp/a%3Ab?secret={B32}", None, "a:b"),
    (f"otpauth://totp/a+b:c+d?secret={B32}", "a+b", "c+d"),
    (f"OTPAUTH://TOTP/x/y:z?secret={B32.lower()}&image=https%3A%2F%2Fx%2Fa.png#top", "x/y", "z"),
    (f"otpauth://totp/x?secret={B32[:8]}%20{B32[8:]}&algorithm=sha1&digits=6", None, "x"),
]


@pytest.mark.parametrize(("uri", "issuer", "account"), OTHER_APPS)
def test_parse_what_other_apps_write(uri: str, issuer: str | None, account: str) -> None:
    assert parse_key_uri(uri) == KeyUri(KEY, account, issuer, TotpParams())


def test_parse_params() -> None:
    uri = f"otpauth://totp/x?secret={B32}&algorithm=sha256&digits=8&period=60&counter=3"
    assert parse_key_uri(uri).params == TotpParams(Algorithm.SHA256, 8, 60)


def test_query_issuer_wins_over_the_label() -> None:
    assert parse_key_uri(f"otpauth://totp/Old:bob?secret={B32}&issuer=New").issuer == "New"


@pytest.mark.parametrize(
    "uri",
    [
        f"otpauth://hotp/x?secret={B32}&counter=1",
        f"https://totp/x?secret={B32}",
        f"otpauth://totp/x?secret={B32}&secret={B32}",
        "otpauth://totp/x?issuer=Example",
        "otpauth://totp/x?secret=",
        "otpauth://totp/x?secret=not*base32",
        f"otpauth://totp/?secret={B32}",
        f"otpauth://totp/x?secret={B32}&algorithm=MD5",
        f"otpauth://totp/x?secret={B32}&digits=10",
        f"otpauth://totp/x?secret={B32}&digits=six",
        f"otpauth://totp/x?secret={B32}&digits=-6",
        f"otpauth://totp/x?secret={B32}&period=0",
        f"otpauth://totp/x?secret={B32}&period=300",
        f"otpauth://totp/x?secret={B32}&period=30.5",
        f"otpauth://totp/%FF?secret={B32}",
        "not a uri at all",
    ],
)
def test_parse_rejects(uri: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails in its own words
        parse_key_uri(uri)


def test_key_uri_repr_hides_the_secret() -> None:
    assert "1234" not in repr(KeyUri(KEY, "bob", None, TotpParams()))


def test_key_uri_needs_a_secret_and_an_account() -> None:
    with pytest.raises(ValueError, match="secret"):
        KeyUri(b"", "bob", None, TotpParams())
    with pytest.raises(ValueError, match="account"):
        KeyUri(KEY, "", None, TotpParams())


names = st.text(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from(":&?%+/ =#@")), min_size=1, max_size=30
)
params_st = st.builds(
    TotpParams,
    algorithm=st.sampled_from(Algorithm),
    digits=st.integers(6, 8),
    period=st.integers(15, 120),
)
key_uris = st.builds(
    KeyUri,
    secret=st.binary(min_size=1, max_size=64),
    account=names,
    issuer=st.none()
    | st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from(":&?%+/ ")), max_size=20),
    params=params_st,
)


@settings(max_examples=150)
@given(key_uris)
def test_build_parse_round_trip(key: KeyUri) -> None:
    # Spaces right after the issuer separator are padding in the Key URI format.
    assume(key.issuer is None or not key.account.startswith(" "))
    uri = build_key_uri(key)
    assert uri.isascii()
    assert "+" not in uri
    assert " " not in uri
    assert parse_key_uri(uri) == key
    assert b32decode(uri.split("secret=")[1].split("&")[0]) == key.secret


def test_build_rejects_text_utf8_cannot_carry() -> None:
    with pytest.raises(ValueError, match="surrogates"):
        build_key_uri(KeyUri(KEY, "\ud800", None, TotpParams()))
