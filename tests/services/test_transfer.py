"""Importing keys from other systems (PSKC from RFC 6030's examples, migration exports, CSV)
and exporting them, on both engines; codes checked against oathtool and pyotp."""

from __future__ import annotations

import hashlib
import subprocess

import pyotp
import pytest

from tests.otp.test_migration import migration_uri
from tests.services.support import ACTOR, new_environment, new_user
from twostep.clock import FrozenClock
from twostep.errors import TwostepError
from twostep.otp import b32encode
from twostep.otp.migration import MigrationOtp
from twostep.services.accounts import create_user
from twostep.services.audit import list_audit
from twostep.services.key_files import Entry
from twostep.services.runtime import Runtime
from twostep.services.transfer import export_keys, import_keys, read_key_file, write_key_file
from twostep.services.verification import verify_code
from twostep.storage.repositories.organizations import EnvironmentRecord

RFC_SECRET = b"12345678901234567890"  # the secret of RFC 6030's examples (and RFC 4226's)

# RFC 6030 figure 3, "PSKC Key Container with Supplementary Data": a plain secret.
FIGURE_3 = """<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0"
    Id="exampleID1"
    xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
    <KeyPackage>
        <DeviceInfo>
            <Manufacturer>Manufacturer</Manufacturer>
            <SerialNo>987654321</SerialNo>
            <UserId>DC=example-bank,DC=net</UserId>
        </DeviceInfo>
        <CryptoModuleInfo>
            <Id>CM_ID_001</Id>
        </CryptoModuleInfo>
        <Key Id="12345678"
            Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
            <Issuer>Issuer</Issuer>
            <AlgorithmParameters>
                <ResponseFormat Length="8" Encoding="DECIMAL"/>
            </AlgorithmParameters>
            <Data>
                <Secret>
                    <PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=
                    </PlainValue>
                </Secret>
                <Counter>
                    <PlainValue>0</PlainValue>
                </Counter>
            </Data>
            <UserId>UID=jsmith,DC=example-bank,DC=net</UserId>
        </Key>
    </KeyPackage>
</KeyContainer>
"""

# RFC 6030 figure 2, "Basic PSKC Key Container": a 32-bit secret.
FIGURE_2 = """<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0"
    Id="exampleID1"
    xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
    <KeyPackage>
        <Key Id="12345678"
            Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
            <Issuer>Issuer-A</Issuer>
            <Data>
                <Secret>
                    <PlainValue>MTIzNA==
                    </PlainValue>
                </Secret>
            </Data>
        </Key>
    </KeyPackage>
</KeyContainer>
"""

# RFC 6030 figure 7, "PSKC Key Container Using PBKDF2": passphrase "qwerty".
FIGURE_7 = """<?xml version="1.0" encoding="UTF-8"?>
<pskc:KeyContainer
  xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"
  xmlns:xenc11="http://www.w3.org/2009/xmlenc11#"
  xmlns:pkcs5=
  "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#"
  xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Version="1.0">
    <pskc:EncryptionKey>
        <xenc11:DerivedKey>
            <xenc11:KeyDerivationMethod
              Algorithm=
 "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2">
                <pkcs5:PBKDF2-params>
                    <Salt>
                        <Specified>Ej7/PEpyEpw=</Specified>
                    </Salt>
                    <IterationCount>1000</IterationCount>
                    <KeyLength>16</KeyLength>
                    <PRF/>
                </pkcs5:PBKDF2-params>
            </xenc11:KeyDerivationMethod>
            <xenc:ReferenceList>
                <xenc:DataReference URI="#ED"/>
            </xenc:ReferenceList>
            <xenc11:MasterKeyName>My Password 1</xenc11:MasterKeyName>
        </xenc11:DerivedKey>
    </pskc:EncryptionKey>
    <pskc:MACMethod
        Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1">
        <pskc:MACKey>
            <xenc:EncryptionMethod
            Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
            <xenc:CipherData>
                <xenc:CipherValue>
2GTTnLwM3I4e5IO5FkufoOEiOhNj91fhKRQBtBJYluUDsPOLTfUvoU2dStyOwYZx
                </xenc:CipherValue>
            </xenc:CipherData>
        </pskc:MACKey>
    </pskc:MACMethod>
    <pskc:KeyPackage>
        <pskc:DeviceInfo>
            <pskc:Manufacturer>TokenVendorAcme</pskc:Manufacturer>
            <pskc:SerialNo>987654321</pskc:SerialNo>
        </pskc:DeviceInfo>
        <pskc:CryptoModuleInfo>
            <pskc:Id>CM_ID_001</pskc:Id>
        </pskc:CryptoModuleInfo>
        <pskc:Key Algorithm=
        "urn:ietf:params:xml:ns:keyprov:pskc:hotp" Id="123456">
            <pskc:Issuer>Example-Issuer</pskc:Issuer>
            <pskc:AlgorithmParameters>
                <pskc:ResponseFormat Length="8" Encoding="DECIMAL"/>
            </pskc:AlgorithmParameters>
            <pskc:Data>
                <pskc:Secret>
                <pskc:EncryptedValue Id="ED">
                    <xenc:EncryptionMethod
                        Algorithm=
"http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
                        <xenc:CipherData>
                            <xenc:CipherValue>
      oTvo+S22nsmS2Z/RtcoF8Hfh+jzMe0RkiafpoDpnoZTjPYZu6V+A4aEn032yCr4f
                        </xenc:CipherValue>
                    </xenc:CipherData>
                    </pskc:EncryptedValue>
                    <pskc:ValueMAC>LP6xMvjtypbfT9PdkJhBZ+D6O4w=
                    </pskc:ValueMAC>
                </pskc:Secret>
            </pskc:Data>
        </pskc:Key>
    </pskc:KeyPackage>
</pskc:KeyContainer>
"""


def as_totp(xml: str) -> bytes:
    """The RFC's HOTP example turned into the TOTP key the same container would carry."""
    return xml.replace("pskc:hotp", "pskc:totp").encode()


def oathtool(
    secret: bytes, at: float, algorithm: str = "SHA1", digits: int = 6, period: int = 30
) -> str:
    args = [f"--totp={algorithm}", "-d", str(digits), "-s", f"{period}s", "-N", f"@{int(at)}"]
    out = subprocess.run(
        ["oathtool", "-b", *args, b32encode(secret)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def pyotp_code(
    secret: bytes, at: float, algorithm: str = "SHA1", digits: int = 6, period: int = 30
) -> str:
    digest = getattr(hashlib, algorithm.lower())
    return pyotp.TOTP(b32encode(secret), digits=digits, digest=digest, interval=period).at(int(at))


async def accepts(rt: Runtime, env: EnvironmentRecord, user_id: str, code: str) -> bool:
    try:
        await verify_code(rt, ACTOR, env, user_id, code)
    except TwostepError:
        return False
    return True


async def test_rfc6030_figure_3_plain_secret_imports_for_the_dn_user(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    view = await create_user(runtime, ACTOR, env, {"username": "jsmith"})
    results = await import_keys(runtime, ACTOR, env, read_key_file(as_totp(FIGURE_3), None, None))
    assert [(r.action, r.account) for r in results] == [("create", "jsmith")]
    code = oathtool(RFC_SECRET, clock.now(), digits=8)
    assert code == pyotp_code(RFC_SECRET, clock.now(), digits=8)
    assert await accepts(runtime, env, view.user.id, code)


async def test_rfc6030_figure_7_pbkdf2_container_opens_with_its_passphrase(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    user_id = await new_user(runtime, env, "alice@example.com")
    # The RFC's key names no user: the operator says whose it is, as PSKC allows.
    xml = as_totp(FIGURE_7).replace(
        b"</pskc:Data>", b"</pskc:Data>\n<pskc:UserId>alice@example.com</pskc:UserId>"
    )
    wrong = await import_keys(runtime, ACTOR, env, read_key_file(xml, "pskc", "azerty"))
    assert [(r.action, r.reason) for r in wrong] == [
        ("refuse", "cannot decrypt the secret (wrong passphrase?)")
    ]
    with pytest.raises(ValueError, match="passphrase"):
        read_key_file(xml, "pskc", None)
    results = await import_keys(runtime, ACTOR, env, read_key_file(xml, "pskc", "qwerty"))
    assert [r.action for r in results] == ["create"]
    assert await accepts(runtime, env, user_id, oathtool(RFC_SECRET, clock.now(), digits=8))


async def test_rfc6030_hotp_and_short_secrets_are_refused(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    await create_user(runtime, ACTOR, env, {"username": "jsmith"})
    hotp = await import_keys(runtime, ACTOR, env, read_key_file(FIGURE_3.encode(), None, None))
    assert [(r.action, r.account) for r in hotp] == [
        ("refuse", "UID=jsmith,DC=example-bank,DC=net")
    ]
    assert "only TOTP" in hotp[0].reason
    short = await import_keys(runtime, ACTOR, env, read_key_file(as_totp(FIGURE_2), None, None))
    assert [(r.action, r.reason) for r in short] == [("refuse", "secret shorter than 128 bits")]


KEYS = [  # (algorithm, digits, period)
    ("SHA1", 6, 30),
    ("SHA256", 8, 60),
    ("SHA512", 8, 30),
    ("SHA512", 6, 60),
]


async def test_otpauth_and_csv_lines_import_with_their_parameters(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    secrets_ = [bytes([n]) * 20 for n in range(1, len(KEYS) + 1)]
    users = [await new_user(runtime, env, f"u{n}@example.com") for n in range(len(KEYS))]
    uris = [
        f"otpauth://totp/Old:u{n}%40example.com?secret={b32encode(s)}&algorithm={a}&digits={d}&period={p}"
        for n, (s, (a, d, p)) in enumerate(zip(secrets_[:2], KEYS[:2], strict=True))
    ]
    csv = "user,secret,algorithm,digits,period\n" + "".join(
        f"u{n + 2}@example.com,{b32encode(s)},{a},{d},{p}\n"
        for n, (s, (a, d, p)) in enumerate(zip(secrets_[2:], KEYS[2:], strict=True))
    )
    entries = read_key_file(("# old system\n" + "\n".join(uris)).encode(), None, None)
    entries += read_key_file(csv.encode(), None, None)
    results = await import_keys(runtime, ACTOR, env, entries)
    assert [r.action for r in results] == ["create"] * len(KEYS)
    for user_id, secret, (algorithm, digits, period) in zip(users, secrets_, KEYS, strict=True):
        code = oathtool(secret, clock.now(), algorithm, digits, period)
        assert code == pyotp_code(secret, clock.now(), algorithm, digits, period)
        assert await accepts(runtime, env, user_id, code)


async def test_a_migration_export_imports_its_totp_accounts(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    alice = await new_user(runtime, env, "alice@example.com")
    bob = await new_user(runtime, env, "bob@example.com")
    uri = migration_uri(
        MigrationOtp(b"a" * 20, "Old:alice@example.com", "Old", "SHA256", 8, "totp"),
        MigrationOtp(b"b" * 32, "bob@example.com", "", "SHA1", 6, "totp"),
        MigrationOtp(b"c" * 20, "bob@example.com", "", "SHA1", 6, "hotp"),
    )
    results = await import_keys(runtime, ACTOR, env, read_key_file(uri.encode(), None, None))
    assert [r.action for r in results] == ["create", "create", "refuse"]
    assert await accepts(runtime, env, alice, oathtool(b"a" * 20, clock.now(), "SHA256", 8))
    assert await accepts(runtime, env, bob, pyotp_code(b"b" * 32, clock.now()))


async def test_a_dry_run_writes_nothing(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    user_id = await new_user(runtime, env, "alice@example.com")
    line = f"otpauth://totp/alice%40example.com?secret={b32encode(b'k' * 20)}"
    results = await import_keys(
        runtime, ACTOR, env, read_key_file(line.encode(), None, None), dry_run=True
    )
    assert [r.action for r in results] == ["create"]
    assert not await accepts(runtime, env, user_id, oathtool(b"k" * 20, clock.now()))
    events = await list_audit(runtime, env, user_id=user_id, limit=50)
    assert "totp.import" not in {event.action for event in events}


async def test_an_active_authenticator_is_kept_unless_replace(
    runtime: Runtime, clock: FrozenClock
) -> None:
    env = await new_environment(runtime)
    user_id = await new_user(runtime, env, "alice@example.com")

    def line(secret: bytes) -> list[Entry]:
        text = f"otpauth://totp/alice%40example.com?secret={b32encode(secret)}"
        return read_key_file(text.encode(), "otpauth", None)

    assert [r.action for r in await import_keys(runtime, ACTOR, env, line(b"1" * 20))] == ["create"]
    again = await import_keys(runtime, ACTOR, env, line(b"1" * 20))
    assert [(r.action, r.reason) for r in again] == [("skip", "already has this key")]
    other = await import_keys(runtime, ACTOR, env, line(b"2" * 20))
    assert [r.action for r in other] == ["refuse"]
    dry = await import_keys(runtime, ACTOR, env, line(b"2" * 20), replace=True, dry_run=True)
    assert [r.action for r in dry] == ["replace"]
    assert await accepts(runtime, env, user_id, oathtool(b"1" * 20, clock.now()))
    replaced = await import_keys(runtime, ACTOR, env, line(b"2" * 20), replace=True)
    assert [r.action for r in replaced] == ["replace"]
    clock.advance(30)
    assert not await accepts(runtime, env, user_id, oathtool(b"1" * 20, clock.now()))
    assert await accepts(runtime, env, user_id, oathtool(b"2" * 20, clock.now()))
    actions = [e.action for e in await list_audit(runtime, env, user_id=user_id, limit=50)]
    assert actions.count("totp.import") == 2


async def test_unknown_users_and_repeats_are_refused(runtime: Runtime) -> None:
    env = await new_environment(runtime)
    await new_user(runtime, env, "alice@example.com")
    csv = (
        "user,secret\n"
        f"alice@example.com,{b32encode(b'1' * 20)}\n"
        f"ALICE@example.com,{b32encode(b'2' * 20)}\n"
        f"nobody@example.com,{b32encode(b'3' * 20)}\n"
        "alice@example.com,not base32!\n"
    )
    results = await import_keys(runtime, ACTOR, env, read_key_file(csv.encode(), "csv", None))
    assert [(r.where, r.action) for r in results] == [
        ("line 2", "create"),
        ("line 3", "refuse"),
        ("line 4", "refuse"),
        ("line 5", "refuse"),
    ]
    assert results[2].reason == "no user named nobody@example.com"
    assert all(b32encode(b"3" * 20) not in r.reason for r in results)


async def test_an_encrypted_pskc_export_round_trips(runtime: Runtime, clock: FrozenClock) -> None:
    env = await new_environment(runtime)
    user_id = await new_user(runtime, env, "alice@example.com")
    line = (
        f"otpauth://totp/alice%40example.com?secret={b32encode(b'z' * 32)}"
        "&algorithm=SHA512&digits=8&period=60"
    )
    await import_keys(runtime, ACTOR, env, read_key_file(line.encode(), None, None))
    keys = await export_keys(runtime, ACTOR, env)
    assert [k.account for k in keys] == ["alice@example.com"]
    data = write_key_file(keys, "pskc", "a long passphrase")
    assert b32encode(b"z" * 32).encode() not in data
    assert b"z" * 32 not in data
    other = await new_environment(runtime, "other")
    other_user = await new_user(runtime, other, "alice@example.com")
    results = await import_keys(
        runtime, ACTOR, other, read_key_file(data, None, "a long passphrase")
    )
    assert [r.action for r in results] == ["create"]
    assert await accepts(
        runtime, other, other_user, oathtool(b"z" * 32, clock.now(), "SHA512", 8, 60)
    )
    assert user_id != other_user
    events = await list_audit(runtime, env, user_id=None, limit=50)
    exported = [e for e in events if e.action == "totp.export"]
    assert [e.details for e in exported] == [{"count": 1}]
