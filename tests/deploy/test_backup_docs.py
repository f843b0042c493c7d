"""docs/operations.md's SQLite online backup, taken while serving, restores a working server.

The command is read from the document and run as written (with this interpreter for
``python3``); the restored server, given the database copy and the keyring, accepts the codes
of an authenticator enrolled before the backup, and the API key of before.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyotp

from tests.server import Api, new_organization, running_server, server_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _documented_backup(source: Path, target: Path) -> list[str]:
    """The document's Python one-liner, pointed at ``source`` and ``target``."""
    text = DOC.read_text().replace("\\\n", " ")
    line = next(row for row in text.splitlines() if row.startswith("python3 -c"))
    argv = shlex.split(line)
    assert argv[3] == "var/twostep.db"
    return [sys.executable, "-c", argv[2], str(source), str(target)]


def test_the_documented_online_backup_restores_every_authenticator(tmp_path: Path) -> None:
    live, restored = tmp_path / "live", tmp_path / "restored"
    env = server_env(live, None)
    backup = tmp_path / "backups" / "twostep.db"
    backup.parent.mkdir()
    with running_server(live, env=env) as server:
        api, _ = new_organization(server, "backedup")
        user = api.create_user(email="bo@backedup.test")
        secret = api.register(user["id"])["secret"]
        assert api.confirm(user["id"], pyotp.TOTP(secret).now()).status_code == 200
        api.close()
        # Taken while the server runs, its write-ahead log in use.
        assert (live / "twostep.db-wal").exists()
        subprocess.run(_documented_backup(live / "twostep.db", backup), check=True)
    restored.mkdir()
    shutil.copy2(backup, restored / "twostep.db")
    shutil.copy2(live / "secrets.json", restored / "secrets.json")
    with running_server(restored, env={**env, "TWOSTEP_DATA_DIR": str(restored)}) as server:
        again = Api(server.base_url, api.key, "backedup")
        answer = again.verify(user["id"], pyotp.TOTP(secret).at(time.time() + 30))
        again.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True
