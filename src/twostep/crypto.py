"""Encryption at rest with rotatable keys, API-key and recovery-code hashing, webhook keys.

The keyring is a JSON file ``{"primary": kid, "keys": {kid: base64}, "pepper": base64}``
(mode 0600). ``SecretBox`` encrypts with AES-256-GCM under the primary key and stores the
key id beside the ciphertext, so ``twostep keys rotate`` can add a new primary key, rewrap
rows at leisure and retire the old key without downtime.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "PEPPER_BYTES",
    "TAG_BYTES",
    "Keyring",
    "SecretBox",
    "SecretBoxError",
    "api_key_prefix",
    "hash_api_key",
    "hash_recovery_code",
    "keyed_digest",
    "new_api_key",
    "same_token",
    "webhook_signing_key",
]

KEY_BYTES = 32
PEPPER_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class SecretBoxError(Exception):
    """A ciphertext that cannot be opened, or a keyring that cannot be read or changed."""


def _new_key_id(taken: Mapping[str, bytes]) -> str:
    """A short random key id such as ``k-3f9a1c`` not already in ``taken``."""
    while True:
        key_id = f"k-{secrets.token_hex(3)}"
        if key_id not in taken:
            return key_id


def _b64decode(text: object, length: int, what: str) -> bytes:
    """Decode standard base64 of exactly ``length`` bytes, else raise SecretBoxError."""
    if not isinstance(text, str):
        raise SecretBoxError(f"keyring: {what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretBoxError(f"keyring: {what} is not valid base64") from exc
    if len(raw) != length:
        raise SecretBoxError(f"keyring: {what} must be {length} bytes")
    return raw


class Keyring:
    """The AES keys by id, which one is primary, and the recovery-code pepper."""

    def __init__(self, primary: str, keys: Mapping[str, bytes], pepper: bytes) -> None:
        if primary not in keys:
            raise SecretBoxError("keyring: the primary key is missing")
        if any(len(key) != KEY_BYTES for key in keys.values()):
            raise SecretBoxError(f"keyring: every key must be {KEY_BYTES} bytes")
        if len(pepper) != PEPPER_BYTES:
            raise SecretBoxError(f"keyring: the pepper must be {PEPPER_BYTES} bytes")
        self._primary = primary
        self._keys = dict(keys)
        self.pepper = pepper

    @classmethod
    def generate(cls) -> Keyring:
        """A fresh keyring: one random key and a random pepper."""
        key_id = _new_key_id({})
        return cls(key_id, {key_id: AESGCM.generate_key(bit_length=256)}, os.urandom(PEPPER_BYTES))

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Read a keyring file; a missing or malformed file raises SecretBoxError."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SecretBoxError(f"keyring: cannot read {path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise SecretBoxError(f"keyring: {path} is not a keyring")
        primary = data.get("primary")
        if not isinstance(primary, str):
            raise SecretBoxError(f"keyring: {path} names no primary key")
        keys = {
            str(kid): _b64decode(b64, KEY_BYTES, f"key {kid}") for kid, b64 in data["keys"].items()
        }
        return cls(primary, keys, _b64decode(data.get("pepper"), PEPPER_BYTES, "pepper"))

    @classmethod
    def load_or_create(cls, path: Path) -> Keyring:
        """Load the keyring at ``path``, creating it (mode 0600) if it does not exist."""
        if not path.exists():
            keyring = cls.generate()
            # Link (not replace) the new file into place: if another process created the
            # file meanwhile, its keys win and ours are dropped.
            with contextlib.suppress(FileExistsError):
                keyring._write(path, exclusive=True)
        return cls.load(path)

    def reload(self, path: Path) -> None:
        """Take the file's keys in place, so every holder of this keyring sees a rotation."""
        fresh = Keyring.load(path)
        self._primary, self._keys, self.pepper = fresh.primary, dict(fresh.keys), fresh.pepper

    @property
    def primary(self) -> str:
        """The id of the key new ciphertexts are made with."""
        return self._primary

    @property
    def keys(self) -> Mapping[str, bytes]:
        """A read-only view of the keys by id."""
        return MappingProxyType(self._keys)

    def add_primary(self) -> str:
        """Make a new random key the primary one (older keys stay for decryption); its id."""
        key_id = _new_key_id(self._keys)
        self._keys[key_id] = AESGCM.generate_key(bit_length=256)
        self._primary = key_id
        return key_id

    def retire(self, key_id: str) -> None:
        """Forget a non-primary key: rewrap everything encrypted under it first."""
        if key_id == self._primary:
            raise SecretBoxError("keyring: the primary key cannot be retired")
        if key_id not in self._keys:
            raise SecretBoxError(f"keyring: no key {key_id!r}")
        del self._keys[key_id]

    def to_json(self) -> str:
        """The file content: primary id, base64 keys and pepper."""
        return json.dumps(
            {
                "primary": self._primary,
                "keys": {kid: base64.b64encode(key).decode() for kid, key in self._keys.items()},
                "pepper": base64.b64encode(self.pepper).decode(),
            },
            indent=2,
            sort_keys=True,
        )

    def save(self, path: Path) -> None:
        """Write the keyring atomically (temporary file, fsync, rename), mode 0600."""
        self._write(path, exclusive=False)

    def _write(self, path: Path, *, exclusive: bool) -> None:
        """Write to a 0600 temporary file, then rename it (or link it if ``exclusive``)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                os.link(tmp, path)
            else:
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class SecretBox:
    """AES-256-GCM with key ids: encrypt under the primary key, decrypt under any known key."""

    def __init__(self, keyring: Keyring, *, path: Path | None = None) -> None:
        self._keyring = keyring
        self._path = path
        self._lock = threading.Lock()
        self._file_stamp = self._stamp()

    @property
    def keyring(self) -> Keyring:
        """The keyring in use (updated in place when the file is reloaded)."""
        return self._keyring

    @property
    def primary_key_id(self) -> str:
        """The id of the key ``encrypt`` uses."""
        return self._keyring.primary

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> tuple[str, bytes]:
        """``(key_id, nonce + ciphertext)`` under the primary key; ``aad`` binds it to its row."""
        # Another process may have rotated (and retired) keys: seal under the file's primary.
        if self._path is not None and self._stamp() != self._file_stamp:
            with self._lock:
                self._reload()
        keyring = self._keyring
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(keyring.keys[keyring.primary]).encrypt(nonce, plaintext, aad)
        return keyring.primary, nonce + sealed

    def decrypt(self, key_id: str, blob: bytes, *, aad: bytes) -> bytes:
        """The plaintext; an unknown key id first reloads the keyring file once."""
        key = self._key(key_id)
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise SecretBoxError("ciphertext too short")
        try:
            return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise SecretBoxError("ciphertext rejected: tampered, wrong key or wrong aad") from exc

    def rewrap(self, key_id: str, blob: bytes, *, aad: bytes) -> tuple[str, bytes] | None:
        """The ciphertext re-encrypted under the primary key, or None if it already is."""
        if key_id == self.primary_key_id:
            return None
        return self.encrypt(self.decrypt(key_id, blob, aad=aad), aad=aad)

    def _key(self, key_id: str) -> bytes:
        """The key for ``key_id``, reloading the file once if another process rotated keys."""
        key = self._keyring.keys.get(key_id)
        if key is None and self._path is not None:
            with self._lock:
                key = self._keyring.keys.get(key_id)
                if key is None:
                    self._reload()
                    key = self._keyring.keys.get(key_id)
        if key is None:
            raise SecretBoxError(f"unknown key id {key_id!r}")
        return key

    def _stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            info = self._path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _reload(self) -> None:
        assert self._path is not None
        self._keyring.reload(self._path)
        self._file_stamp = self._stamp()


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest an API key is stored and looked up by."""
    # API keys carry 256 random bits, so brute force is hopeless whatever the hash speed: a
    # fast, unsalted hash is safe here and lets the key be found by an indexed lookup.
    # (Passwords are low-entropy and need argon2id; that is passwords.py.)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key(prefix: str) -> str:
    """A new API key such as ``ts_prod_<43 url-safe chars>``: 256 random bits."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def api_key_prefix(key: str) -> str:
    """The first characters of an API key, enough to recognise it and never to use it.

    At most a quarter of the key and 14 characters: of ours, the kind (``ts_prod_``) and a
    few random characters, leaving well over 200 random bits unshown.
    """
    return key[: min(14, len(key) // 4)]


def hash_recovery_code(pepper: bytes, canonical_code: str) -> str:
    """HMAC-SHA256 hex of a canonical recovery code, keyed by the server pepper (spec 3.9)."""
    return hmac.new(pepper, canonical_code.encode("utf-8"), hashlib.sha256).hexdigest()


def keyed_digest(key: bytes, purpose: str, *parts: str) -> str:
    """HMAC-SHA256 hex of ``purpose:part:part...`` under ``key`` (the server pepper).

    The one way a token is derived instead of stored (CSRF tokens, the admin console's
    cookie, webhook keys, counter subjects): ``purpose`` keeps one use's tokens from passing
    for another's. The message is the text these tokens were always signed over, so tokens
    issued before this helper existed still verify.
    """
    message = ":".join((purpose, *parts))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def same_token(given: str, expected: str) -> bool:
    """Whether a presented token is the expected one, in constant time (any text is safe)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def webhook_signing_key(keyring: Keyring, environment_id: str) -> str:
    """The key an environment's webhook bodies are signed with (spec 3.11), as 64 hex digits.

    Derived from the server pepper and the environment id, never stored: every node of a
    cluster computes the same key, and each environment has its own.
    """
    return keyed_digest(keyring.pepper, "webhook-signing-key", environment_id)
