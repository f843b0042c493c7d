"""The ``twostep`` command as an operator and a script use it, against a live server's database.

Each ``twostep`` start costs seconds, so independent commands run side by side."""

from __future__ import annotations

import secrets
import subprocess
import time
from contextlib import closing
from pathlib import Path

import httpx
import pyotp

from tests.e2e.test_api_errors import assert_problem
from tests.pg import PostgresServer
from tests.server import TWOSTEP, Server, new_organization, server_env

AT = 1_700_000_000


def run_together(
    *commands: tuple[dict[str, str], list[str]],
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``twostep`` commands (environment, arguments) at the same time; their results."""
    started = [
        (
            args,
            subprocess.Popen(
                [str(TWOSTEP), *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for env, args in commands
    ]
    results = []
    for args, process in started:
        stdout, stderr = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))
    return results


def oathtool(secret: str, *options: str) -> str:
    out = subprocess.run(
        ["oathtool", "-b", *options, secret], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_code_agrees_with_oathtool_and_pyotp(sqlite_server: Server) -> None:
    api, _ = new_organization(sqlite_server)
    with closing(api):
        plain_user = api.create_user()
        plain = api.register(plain_user["id"])
        assert (
            api.patch_config(
                {"totp": {"algorithm": "SHA512", "digits": 8, "period": 60}}
            ).status_code
            == 200
        )
        strong = api.register(api.create_user()["id"])
        env = sqlite_server.env
        before = time.time()
        now, at, strong_at, bad, hotp = run_together(
            (env, ["code", plain["uri"]]),
            (env, ["code", "--at", str(AT), plain["uri"]]),
            (env, ["code", "--at", str(AT), strong["uri"]]),
            (env, ["code", "not-a-uri"]),
            (env, ["code", "otpauth://hotp/x:y?secret=JBSWY3DPEHPK3PXP&counter=1"]),
        )
        after = time.time()
        for result in (now, at, strong_at):
            assert result.returncode == 0, result.stderr
        # "now" moved while the command ran: the code is that of its start or of its end.
        key = pyotp.parse_uri(plain["uri"])
        assert isinstance(key, pyotp.TOTP)
        assert now.stdout.strip() in {key.at(before), key.at(after)}
        assert now.stdout.strip() in {
            oathtool(plain["secret"], "--totp", "-N", f"@{int(t)}") for t in (before, after)
        }
        assert at.stdout.strip() == oathtool(plain["secret"], "--totp", "-N", f"@{AT}")
        assert at.stdout.strip() == key.at(AT)
        expected = oathtool(
            strong["secret"], "--totp=sha512", "-d", "8", "--time-step-size=60s", "-N", f"@{AT}"
        )
        assert strong_at.stdout.strip() == expected
        assert len(expected) == 8
        assert pyotp.parse_uri(strong["uri"]).at(AT) == expected
        for refused in (bad, hotp):
            assert refused.returncode == 2, (refused.stdout, refused.stderr)
            assert refused.stdout == ""
            assert "not a TOTP key URI" in refused.stderr
        # The code the CLI printed confirms the enrollment on the server.
        confirmed = api.confirm(plain_user["id"], now.stdout.strip())
        assert confirmed.status_code == 200, confirmed.text


def test_org_user_and_apikey_create(sqlite_server: Server) -> None:
    env = sqlite_server.env
    domain = f"cli-{secrets.token_hex(4)}"
    (org,) = run_together((env, ["org", "create", "--name", "CLI Org", "--domain", domain]))
    assert org.returncode == 0, org.stderr
    keys = dict(line.split(": ", 1) for line in org.stdout.strip().splitlines())
    assert set(keys) == {"sandbox", "production"}
    apikey, user = run_together(
        (env, ["apikey", "create", "--org", domain, "--env", "sandbox", "--label", "ci"]),
        (
            env,
            [
                "user",
                "create",
                "--org",
                domain,
                "--env",
                "sandbox",
                "--email",
                "Cli.User@Example.test",
                "--username",
                "cliuser",
            ],
        ),
    )
    assert apikey.returncode == 0, apikey.stderr
    assert user.returncode == 0, user.stderr
    new_key, user_id = apikey.stdout.strip(), user.stdout.strip()
    assert new_key not in keys.values()
    with httpx.Client(base_url=sqlite_server.base_url, timeout=30) as http:

        def get(path: str, key: str) -> httpx.Response:
            return http.get(path, headers={"Authorization": f"Bearer {key}"})

        for key in (new_key, keys["sandbox"]):
            listed = get(f"/api/v1/org/{domain}/users", key)
            assert listed.status_code == 200, listed.text
            assert [u["id"] for u in listed.json()["data"]] == [user_id]
            shown = get(f"/api/v1/org/{domain}/users/{user_id}", key).json()
            assert (shown["email"], shown["username"]) == ("cli.user@example.test", "cliuser")
        assert get(f"/api/v1/org/{domain}/users", keys["production"]).json()["total"] == 0
        assert_problem(
            get(f"/api/v1/org/{domain}/users/{user_id}", keys["production"]), 404, "not_found"
        )
        # The new sandbox key is a sandbox key: production stays out of its reach.
        listed = http.get(
            f"/api/v1/org/{domain}/users",
            params={"env": "production"},
            headers={"Authorization": f"Bearer {new_key}"},
        )
        assert_problem(listed, 403, "forbidden")
        assert get(f"/api/v1/organizations/{domain}", new_key).json()["name"] == "CLI Org"


def test_migrate_is_idempotent(
    sqlite_server: Server, postgres: PostgresServer, tmp_path: Path
) -> None:
    """The live SQLite database (migrated by ``serve``) and a fresh PostgreSQL one, twice."""
    pg_env = server_env(tmp_path / "pg", postgres.new_database())
    live, first = run_together((sqlite_server.env, ["migrate"]), (pg_env, ["migrate"]))
    second, org = run_together(
        (pg_env, ["migrate"]),
        (pg_env, ["org", "create", "--name", "After", "--domain", "after-migrate"]),
    )
    for result in (live, first, second):
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
    assert org.returncode == 0, org.stderr
    assert org.stdout.startswith("sandbox: ts_sandbox")
    # The live server still serves its data after the migration ran under it.
    api, _ = new_organization(sqlite_server)
    with closing(api):
        assert api.create_user()["two_factor"]["enabled"] is False
