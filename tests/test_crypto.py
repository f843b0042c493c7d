"""SecretBox, the keyring file, the API-key and recovery-code hashes, the webhook keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from pathlib import Path

import pytest

from twostep.crypto import (
    Keyring,
    SecretBox,
    SecretBoxError,
    hash_api_key,
    hash_recovery_code,
    new_api_key,
    webhook_signing_key,
)

AAD = b"authenticator:42"


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "secrets.json"


@pytest.fixture
def box(keyfile: Path) -> SecretBox:
    return SecretBox(Keyring.load_or_create(keyfile), path=keyfile)


@pytest.mark.parametrize("plaintext", [b"", b"x", b"JBSWY3DPEHPK3PXP" * 4, bytes(range(256))])
def test_round_trip(box: SecretBox, plaintext: bytes) -> None:
    key_id, blob = box.encrypt(plaintext, aad=AAD)
    assert key_id == box.primary_key_id
    assert len(plaintext) < 16 or plaintext not in blob
    assert box.decrypt(key_id, blob, aad=AAD) == plaintext


def test_nonces_are_fresh(box: SecretBox) -> None:
    blobs = {box.encrypt(b"same", aad=AAD)[1] for _ in range(50)}
    assert len(blobs) == 50


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


@pytest.mark.parametrize("index", [0, 11, 12, 20, -1])
def test_flipped_byte_is_rejected(box: SecretBox, index: int) -> None:
    key_id, blob = box.encrypt(b"secret", aad=AAD)
    with pytest.raises(SecretBoxError):
        box.decrypt(key_id, _flip(blob, index % len(blob)), aad=AAD)


@pytest.mark.parametrize("aad", [b"", b"authenticator:43", AAD + b"\x00"])
def test_wrong_aad_is_rejected(box: SecretBox, aad: bytes) -> None:
    key_id, blob = box.encrypt(b"secret", aad=AAD)
    with pytest.raises(SecretBoxError):
        box.decrypt(key_id, blob, aad=aad)


@pytest.mark.parametrize("blob", [b"", b"\x00" * 12, b"\x00" * 27])
def test_truncated_blob_is_rejected(box: SecretBox, blob: bytes) -> None:
    with pytest.raises(SecretBoxError):
        box.decrypt(box.primary_key_id, blob, aad=AAD)


def test_unknown_key_id_is_rejected(box: SecretBox) -> None:
    _, blob = box.encrypt(b"secret", aad=AAD)
    with pytest.raises(SecretBoxError, match="unknown key id"):
        box.decrypt("k-000000", blob, aad=AAD)


def test_other_known_key_is_rejected(box: SecretBox) -> None:
    old_id, blob = box.encrypt(b"secret", aad=AAD)
    new_id = box.keyring.add_primary()
    with pytest.raises(SecretBoxError):
        box.decrypt(new_id, blob, aad=AAD)
    assert box.decrypt(old_id, blob, aad=AAD) == b"secret"


def test_secret_box_error_is_not_a_twostep_error() -> None:
    from twostep.errors import TwostepError

    assert not issubclass(SecretBoxError, TwostepError)


def test_file_is_created_private_and_well_formed(keyfile: Path) -> None:
    keyring = Keyring.load_or_create(keyfile)
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    data = json.loads(keyfile.read_text())
    assert set(data) == {"primary", "keys", "pepper"}
    assert list(data["keys"]) == [keyring.primary]
    assert keyring.primary.startswith("k-")
    assert len(keyring.keys[keyring.primary]) == 32
    assert len(keyring.pepper) == 32
    assert list(keyfile.parent.iterdir()) == [keyfile]  # no temporary file left behind


def test_save_keeps_mode_0600(keyfile: Path) -> None:
    keyring = Keyring.load_or_create(keyfile)
    keyfile.chmod(0o644)
    keyring.add_primary()
    keyring.save(keyfile)
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600


def test_pepper_and_keys_are_stable_across_loads(keyfile: Path) -> None:
    first = Keyring.load_or_create(keyfile)
    second = Keyring.load_or_create(keyfile)
    assert second.pepper == first.pepper
    assert dict(second.keys) == dict(first.keys)
    assert second.primary == first.primary


def test_two_files_differ(tmp_path: Path) -> None:
    one = Keyring.load_or_create(tmp_path / "a.json")
    two = Keyring.load_or_create(tmp_path / "b.json")
    assert one.pepper != two.pepper
    assert one.keys[one.primary] != two.keys[two.primary]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"keys": {}}',
        '{"primary": "k-1", "keys": {"k-1": "AAAA"}, "pepper": "AAAA"}',
        '{"primary": "k-2", "keys": {}, "pepper": ""}',
    ],
)
def test_malformed_file_is_refused(keyfile: Path, content: str) -> None:
    keyfile.parent.mkdir(parents=True)
    keyfile.write_text(content)
    with pytest.raises(SecretBoxError):
        Keyring.load_or_create(keyfile)


def test_rotation(box: SecretBox, keyfile: Path) -> None:
    old_id, old_blob = box.encrypt(b"secret", aad=AAD)
    keyring = box.keyring
    new_id = keyring.add_primary()
    keyring.save(keyfile)
    assert new_id != old_id
    assert box.primary_key_id == new_id
    assert set(keyring.keys) == {old_id, new_id}

    # Old ciphertexts still open until their key is retired.
    assert box.decrypt(old_id, old_blob, aad=AAD) == b"secret"
    rewrapped = box.rewrap(old_id, old_blob, aad=AAD)
    assert rewrapped is not None
    assert rewrapped[0] == new_id
    assert box.decrypt(*rewrapped, aad=AAD) == b"secret"
    assert box.rewrap(*rewrapped, aad=AAD) is None

    keyring.retire(old_id)
    keyring.save(keyfile)
    with pytest.raises(SecretBoxError):
        box.decrypt(old_id, old_blob, aad=AAD)
    assert box.decrypt(*rewrapped, aad=AAD) == b"secret"
    assert set(Keyring.load_or_create(keyfile).keys) == {new_id}


def test_rewrap_checks_the_aad(box: SecretBox) -> None:
    old_id, blob = box.encrypt(b"secret", aad=AAD)
    box.keyring.add_primary()
    with pytest.raises(SecretBoxError):
        box.rewrap(old_id, blob, aad=b"other row")


def test_primary_cannot_be_retired(box: SecretBox) -> None:
    with pytest.raises(SecretBoxError):
        box.keyring.retire(box.primary_key_id)
    with pytest.raises(SecretBoxError):
        box.keyring.retire("k-nope")


def test_second_box_reloads_on_unknown_key(keyfile: Path) -> None:
    """Another process rotates the keys: this one picks the new key up without a restart."""
    here = SecretBox(Keyring.load_or_create(keyfile), path=keyfile)
    there = SecretBox(Keyring.load_or_create(keyfile), path=keyfile)
    rotated = there.keyring
    new_id = rotated.add_primary()
    rotated.save(keyfile)

    key_id, blob = there.encrypt(b"secret", aad=AAD)
    assert key_id == new_id
    assert new_id not in here.keyring.keys
    assert here.decrypt(key_id, blob, aad=AAD) == b"secret"
    assert here.primary_key_id == new_id  # the reload also moved the primary


def test_no_reload_without_a_path(keyfile: Path) -> None:
    here = SecretBox(Keyring.load_or_create(keyfile))
    there = SecretBox(Keyring.load_or_create(keyfile), path=keyfile)
    there.keyring.add_primary()
    there.keyring.save(keyfile)
    key_id, blob = there.encrypt(b"secret", aad=AAD)
    with pytest.raises(SecretBoxError):
        here.decrypt(key_id, blob, aad=AAD)


def test_api_key_shape_and_hash() -> None:
    key = new_api_key("ts_prod")
    assert key.startswith("ts_prod_")
    assert len(key) == len("ts_prod_") + 43
    assert new_api_key("ts_prod") != key
    digest = hash_api_key(key)
    assert len(digest) == 64
    assert digest == hash_api_key(key)
    assert digest != hash_api_key(key + "x")
    assert hash_api_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_recovery_code_hash_depends_on_the_pepper() -> None:
    one, two = b"\x01" * 32, b"\x02" * 32
    code = "ABCD-EFGH-JKLM-NPQR"
    assert hash_recovery_code(one, code) == hash_recovery_code(one, code)
    assert hash_recovery_code(one, code) != hash_recovery_code(two, code)
    assert hash_recovery_code(one, code) != hash_recovery_code(one, "ABCD-EFGH-JKLM-NPQS")
    assert len(hash_recovery_code(one, code)) == 64


def test_webhook_signing_key_is_derived_per_environment_and_pepper() -> None:
    key_id = "k-000001"
    one = Keyring(key_id, {key_id: b"\x00" * 32}, b"\x01" * 32)
    two = Keyring(key_id, {key_id: b"\x00" * 32}, b"\x02" * 32)
    key = webhook_signing_key(one, "env-1")
    assert key == webhook_signing_key(one, "env-1")
    assert key != webhook_signing_key(one, "env-2")
    assert key != webhook_signing_key(two, "env-1")
    assert len(key) == 64
    assert int(key, 16) >= 0
    # HMAC-SHA256(pepper, "webhook-signing-key:" + id): an independent computation agrees.
    expected = hmac.new(b"\x01" * 32, b"webhook-signing-key:env-1", hashlib.sha256).hexdigest()
    assert key == expected
    assert key != hash_recovery_code(one.pepper, "env-1")
