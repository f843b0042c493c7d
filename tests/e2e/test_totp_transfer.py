"""Moving authenticators in and out of a live server: the management API's import, and
``twostep totp import|export`` run as an operator runs them, on both engines."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.e2e.test_api_errors import assert_problem
from tests.e2e.test_cli import run_together
from tests.server import TWOSTEP, Api, Server, new_organization, running_server
from twostep.otp import b32encode

PASSPHRASE = "correct horse battery staple"


def codes(secret: str, algorithm: str = "SHA1", digits: int = 6, period: int = 30) -> str:
    """The current code by oathtool, checked against pyotp at the same instant."""
    now = int(time.time())
    args = [f"--totp={algorithm}", "-d", str(digits), "-s", f"{period}s", "-N", f"@{now}"]
    out = subprocess.run(
        ["oathtool", "-b", *args, secret], capture_output=True, text=True, check=True
    ).stdout.strip()
    digest = getattr(hashlib, algorithm.lower())
    assert out == pyotp.TOTP(secret, digits=digits, digest=digest, interval=period).at(now)
    return out


def audit_actions(api: Api, user_id: str) -> list[str]:
    response = api.http.get(f"/api/v1/org/{api.org}/audit-events", params={"user": user_id})
    assert response.status_code == 200, response.text
    return [event["action"] for event in response.json()["data"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"secret": b32encode(b"s" * 10)}, "secret"),  # 80 bits
        ({"secret": "not base32!"}, "secret"),
        ({"secret": b32encode(b"s" * 20), "algorithm": "MD5"}, "algorithm"),
        ({"secret": b32encode(b"s" * 20), "digits": 9}, "digits"),
        ({"secret": b32encode(b"s" * 20), "period": 10}, "period"),
        ({"uri": "otpauth://hotp/x?secret=" + b32encode(b"s" * 20)}, "uri"),
        ({"uri": "otpauth://totp/x?secret=" + b32encode(b"s" * 20), "digits": 8}, None),
        ({"secret": b32encode(b"s" * 20), "uri": "otpauth://totp/x"}, "uri"),
    ],
)
def test_bad_keys_are_refused_naming_the_field(
    sqlite_server: Server, body: dict[str, Any], field: str | None
) -> None:
    api, _ = new_organization(sqlite_server)
    with closing(api), closing(Api(api.base_url, sqlite_server.admin_key, api.org)) as admin:
        user = api.create_user()
        response = admin.http.post(admin.user_path(user["id"], "/totp"), json=body)
        problem = assert_problem(response, 422, "validation_error")
        locs = [error["loc"] for error in problem["errors"]]
        assert ["body", field] in locs if field else ["body"] in locs, locs


def test_the_api_registers_an_existing_key_for_an_admin_only(server: Server) -> None:
    api, _ = new_organization(server)
    with closing(api), closing(Api(api.base_url, server.admin_key, api.org)) as admin:
        alice, bob = api.create_user(), api.create_user()
        secret = b32encode(b"\x07" * 20)
        body = {"secret": secret, "algorithm": "SHA256", "digits": 8, "period": 60}
        path = api.user_path(alice["id"], "/totp")
        assert_problem(api.http.post(path, json=body), 403, "forbidden")
        response = admin.http.post(path, json=body)
        assert response.status_code == 201, response.text
        assert set(response.json()) == {"id", "status"}
        assert response.json()["status"] == "active"
        assert api.verify(alice["id"], codes(secret, "SHA256", 8, 60)).status_code == 200
        assert_problem(admin.http.post(path, json=body), 409, "totp_already_enrolled")
        uri = f"otpauth://totp/Old:bob?secret={secret}&algorithm=SHA512&digits=8"
        response = admin.http.post(api.user_path(bob["id"], "/totp"), json={"uri": uri})
        assert response.status_code == 201, response.text
        assert api.verify(bob["id"], codes(secret, "SHA512", 8)).status_code == 200
        assert "totp.import" in audit_actions(api, alice["id"])
        # Without a key in the body, registration is what it always was.
        assert "secret" in api.register(api.create_user()["id"])
    assert secret not in server.logs()


def twostep(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TWOSTEP), *args], env=env, capture_output=True, text=True, check=False
    )


def test_import_prints_what_it_does_and_keeps_active_authenticators(
    server: Server, tmp_path: Path
) -> None:
    api, _ = new_organization(server)
    with closing(api):
        emails = [f"{name}-{api.org}@example.com" for name in ("ann", "ben", "cat")]
        users = [api.create_user(email=email)["id"] for email in emails]
        keys = [b32encode(bytes([n]) * 20) for n in (11, 12, 13)]
        lines = tmp_path / "old.txt"
        lines.write_text(
            f"otpauth://totp/Old:{emails[0]}?secret={keys[0]}&algorithm=SHA256&digits=8\n"
            f"otpauth://totp/{emails[1]}?secret={keys[1]}&period=60\n"
            f"otpauth://totp/nobody@example.com?secret={keys[2]}\n"
        )
        table = tmp_path / "old.csv"
        table.write_text(
            f"user,secret,algorithm,digits,period\n{emails[2]},{keys[2]},SHA512,6,30\n"
        )
        base = ["totp", "import", "--org", api.org]
        dry, csv_dry = run_together(
            (server.env, [*base, str(lines), "--dry-run"]),
            (server.env, [*base, str(table), "--format", "csv", "--dry-run"]),
        )
        assert dry.returncode == 1, dry.stderr  # the unknown user is refused
        assert dry.stdout.splitlines() == [
            f"create   {emails[0]}  (line 1: new authenticator)",
            f"create   {emails[1]}  (line 2: new authenticator)",
            "refuse   nobody@example.com  (line 3: no user named nobody@example.com)",
            "dry run, nothing written: 2 create, 0 replace, 0 skip, 1 refuse",
        ]
        assert csv_dry.returncode == 0, csv_dry.stderr
        assert api.verify(users[0], codes(keys[0], "SHA256", 8)).status_code != 200
        done, from_csv = run_together(
            (server.env, [*base, str(lines)]), (server.env, [*base, str(table)])
        )
        assert done.returncode == 1
        assert done.stdout.splitlines()[-1] == "imported: 2 create, 0 replace, 0 skip, 1 refuse"
        assert from_csv.returncode == 0, from_csv.stdout + from_csv.stderr
        assert api.verify(users[0], codes(keys[0], "SHA256", 8)).status_code == 200
        assert api.verify(users[1], codes(keys[1], period=60)).status_code == 200
        assert api.verify(users[2], codes(keys[2], "SHA512")).status_code == 200

        other = tmp_path / "other.txt"
        new_key = b32encode(b"x" * 20)
        other.write_text(f"otpauth://totp/{emails[0]}?secret={new_key}\n")
        kept = twostep(server.env, *base, str(other))
        assert kept.returncode == 1
        assert "refuse" in kept.stdout
        assert "--replace" in kept.stdout
        replaced = twostep(server.env, *base, str(other), "--replace")
        assert replaced.returncode == 0
        assert replaced.stdout.startswith("replace  ")
        assert api.verify(users[0], codes(new_key)).status_code == 200
        for key in [*keys, new_key]:
            assert key not in server.logs()
            for result in (dry, csv_dry, done, from_csv, kept, replaced):
                assert key not in result.stdout + result.stderr


def test_an_encrypted_export_moves_every_key_into_a_fresh_server(
    server: Server, tmp_path: Path
) -> None:
    api, _ = new_organization(server)
    with closing(api), closing(Api(api.base_url, server.admin_key, api.org)) as admin:
        emails = [f"{name}-{api.org}@example.com" for name in ("dan", "eve")]
        keys = [(b32encode(b"d" * 20), "SHA1", 6, 30), (b32encode(b"e" * 32), "SHA256", 8, 60)]
        for email, (key, algorithm, digits, period) in zip(emails, keys, strict=True):
            body = {"secret": key, "algorithm": algorithm, "digits": digits, "period": period}
            user_path = api.user_path(api.create_user(email=email)["id"], "/totp")
            assert admin.http.post(user_path, json=body).status_code == 201
        out = tmp_path / "keys.pskc"
        export = ["totp", "export", "--org", api.org]
        with_pass = {**server.env, "TWOSTEP_EXPORT_PASSPHRASE": PASSPHRASE}
        plain, in_data_dir, short, written = run_together(
            (server.env, [*export, "--output", str(tmp_path / "k.txt"), "--format", "otpauth"]),
            (with_pass, [*export, "--output", str(server.data_dir / "keys.pskc")]),
            ({**server.env, "TWOSTEP_EXPORT_PASSPHRASE": "short"}, [*export, "--output", "x"]),
            (with_pass, [*export, "--output", str(out)]),
        )
        assert "--i-understand-plaintext" in plain.stderr
        assert "data directory" in in_data_dir.stderr
        assert "at least 12" in short.stderr
        assert (plain.returncode, in_data_dir.returncode, short.returncode) == (2, 2, 2)
        assert written.stdout == f"exported 2 authenticators to {out} (pskc)\n", written.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        again = twostep(with_pass, *export, "--output", str(out))
        assert again.returncode == 2
        assert "--force" in again.stderr
        for key, *_ in keys:
            assert key not in out.read_text()
        events = api.http.get(f"/api/v1/org/{api.org}/audit-events").json()["data"]
        assert [e["details"] for e in events if e["action"] == "totp.export"] == [{"count": 2}]

    with running_server(tmp_path / "fresh") as fresh:
        fresh_api, _ = new_organization(fresh, api.org)
        with closing(fresh_api):
            moved = [fresh_api.create_user(email=email)["id"] for email in emails]
            env = {**fresh.env, "TWOSTEP_IMPORT_PASSPHRASE": PASSPHRASE}
            result = twostep(env, "totp", "import", str(out), "--org", api.org)
            assert result.returncode == 0, result.stdout + result.stderr
            assert (
                result.stdout.splitlines()[-1] == "imported: 2 create, 0 replace, 0 skip, 0 refuse"
            )
            for user_id, (key, algorithm, digits, period) in zip(moved, keys, strict=True):
                response = fresh_api.verify(user_id, codes(key, algorithm, digits, period))
                assert response.status_code == 200, response.text
