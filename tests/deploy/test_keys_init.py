"""``twostep keys init``: the keyring that nodes share, made before any of them starts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.server import TWOSTEP, server_env
from twostep.crypto import Keyring


def _keys_init(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = server_env(tmp_path / "data", None)
    return subprocess.run(
        [str(TWOSTEP), "keys", "init", *args], env=env, capture_output=True, text=True, check=False
    )


def test_it_prints_a_keyring_a_server_can_load(tmp_path: Path) -> None:
    printed = _keys_init(tmp_path)
    assert printed.returncode == 0, printed.stderr
    path = tmp_path / "keyring.json"
    path.write_text(printed.stdout)
    keyring = Keyring.load(path)
    assert keyring.primary in keyring.keys
    assert json.loads(printed.stdout)["primary"] == keyring.primary


def test_it_writes_a_private_file_and_never_replaces_one(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    assert _keys_init(tmp_path, str(path)).returncode == 0
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_text()
    again = _keys_init(tmp_path, str(path))
    assert again.returncode == 1
    assert "refusing" in again.stderr
    assert path.read_text() == before
