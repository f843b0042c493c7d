"""The admin commands as an operator runs them, against a live server's database: ``org list``,
``user list|find|reset-2fa``, ``audit export`` and ``backup`` (then a restore that works)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import stat
import time
from pathlib import Path

import pyotp

from tests.e2e.test_cli import run_together
from tests.server import Api, Server, new_organization, running_server, server_env


def _enrolled(api: Api, email: str) -> tuple[dict[str, str], str]:
    user = api.create_user(email=email)
    secret = api.register(user["id"])["secret"]
    assert api.confirm(user["id"], pyotp.TOTP(secret).now()).status_code == 200
    return user, str(secret)


def test_list_find_and_export(server: Server, tmp_path: Path) -> None:
    api, _ = new_organization(server)
    elodie = api.create_user(email="ÉLODIE@x.test")
    bo, _ = _enrolled(api, "bo@x.test")
    out = tmp_path / "audit.csv"
    org = ["--org", str(api.org)]
    orgs, listed, found, exported, ndjson = run_together(
        (server.env, ["org", "list"]),
        (server.env, ["user", "list", *org, "--q", "élodie"]),
        (server.env, ["user", "find", *org, "BO@x.test"]),
        (server.env, ["audit", "export", *org, "--format", "csv", "--output", str(out)]),
        (server.env, ["audit", "export", *org, "--format", "ndjson", "--action", "totp.confirm"]),
    )
    assert orgs.returncode == 0, orgs.stderr
    assert any(line.startswith(f"{api.org} ") for line in orgs.stdout.splitlines())
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()] == [
        [elodie["id"], "élodie@x.test"]
    ]
    user = json.loads(found.stdout)
    assert (user["id"], user["two_factor"]["enabled"]) == (bo["id"], True)
    assert "password_hash" not in user
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {"organization.create", "user.create", "totp.confirm"} <= {r["action"] for r in rows}
    lines = [json.loads(line) for line in ndjson.stdout.splitlines()]
    assert [(e["action"], e["user_id"]) for e in lines] == [("totp.confirm", bo["id"])]
    api.close()


def test_reset_2fa_by_email_is_audited_with_its_reason(server: Server) -> None:
    api, _ = new_organization(server)
    bo, _ = _enrolled(api, "bo@x.test")
    done = server.cli("user", "reset-2fa", "--org", str(api.org), "bo@x.test", "--reason", "lost")
    assert done.stdout.strip() == f"second factor reset: {bo['id']}"
    assert api.request("GET", api.user_path(bo["id"])).json()["two_factor"]["enabled"] is False
    events = api.request(
        "GET", f"/api/v1/org/{api.org}/audit-events", params={"action": "totp.reset"}
    ).json()["data"]
    assert [(e["actor"], e["details"]) for e in events] == [("cli", {"reason": "lost"})]
    unknown = server.cli(
        "user", "reset-2fa", "--org", str(api.org), "nobody@x.test", "--reason", "x", check=False
    )
    assert unknown.returncode == 1
    assert "not_found" in unknown.stderr
    bare = server.cli("user", "reset-2fa", "--org", str(api.org), "bo@x.test", check=False)
    assert bare.returncode == 1
    assert "validation_error" in bare.stderr
    api.close()


def test_backup_while_serving_restores_into_a_fresh_data_dir(tmp_path: Path) -> None:
    live, backups, restored = tmp_path / "live", tmp_path / "backups", tmp_path / "restored"
    env = server_env(live, None)
    with running_server(live, env=env) as server:
        api, _ = new_organization(server, "backedup")
        user, secret = _enrolled(api, "bo@backedup.test")
        api.close()
        refused = run_together(
            (env, ["backup"]), (env, ["backup", "--output", str(live / "backups")])
        )
        assert [r.returncode for r in refused] == [2, 2]
        assert "inside the data directory" in refused[1].stderr
        done = server.cli("backup", "--output", str(backups))
    assert "pg_dump" not in done.stdout
    (database,) = backups.glob("twostep-*.db")
    (keyring,) = backups.glob("twostep-secrets-*.json")
    assert {stat.S_IMODE(p.stat().st_mode) for p in (database, keyring)} == {0o600}
    restored.mkdir()
    shutil.copy2(database, restored / "twostep.db")
    shutil.copy2(keyring, restored / "secrets.json")
    with running_server(restored, env={**env, "TWOSTEP_DATA_DIR": str(restored)}) as server:
        again = Api(server.base_url, api.key, "backedup")
        answer = again.verify(user["id"], pyotp.TOTP(secret).at(time.time() + 30))
        again.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True


def test_backup_on_postgres_copies_the_keyring_and_points_to_pg_dump(
    pg_server: Server, tmp_path: Path
) -> None:
    done = pg_server.cli("backup", "--output", str(tmp_path / "out"))
    assert "pg_dump" in done.stdout
    assert [p.name.startswith("twostep-secrets-") for p in (tmp_path / "out").iterdir()] == [True]
