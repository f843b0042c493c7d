"""``twostep check``: what ``serve`` would find, one line per check (or one JSON object for
scripts), and a non-zero exit code, the first failure's, when anything is wrong."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.test_startup_errors import quiet_env, seal_a_secret, twostep
from tests.pg import PostgresServer, free_port
from twostep.crypto import Keyring
from twostep.services.preflight import Check, Subject, measured
from twostep.services.startup_errors import ExitCode
from twostep.settings import Settings
from twostep.storage import Database
from twostep.storage.migrate import head_revision, upgrade
from twostep.storage.repositories.schema import schema_revision

NAMES = [
    "settings",
    "database",
    "schema",
    "clock_skew",
    "secrets",
    "translations",
    "webhook_networks",
    "port",
]


def _lines(stdout: str) -> list[tuple[str, str, str]]:
    """(OK or FAIL, name, detail) of each line printed."""
    return [tuple(line.split(maxsplit=2)) for line in stdout.splitlines()]  # type: ignore[misc]


def test_it_passes_where_make_run_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seal_a_secret(data_dir)  # migrated, its keyring made and used: `make run` after a first run
    result = twostep(quiet_env(data_dir), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert [(status, name) for status, name, _ in lines] == [("OK", name) for name in NAMES]
    details = {name: detail for _, name, detail in lines}
    assert details["schema"] == f"at revision {head_revision()}, the newest of this release"
    assert details["clock_skew"] == "not measured: SQLite runs on this one machine"
    assert details["secrets"].endswith("opens the secrets the database holds")
    assert details["secrets"].startswith(f"{data_dir / 'secrets.json'}: mode 0600, 1 key")


def test_it_names_every_problem_and_exits_non_zero(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seal_a_secret(data_dir)
    other = tmp_path / "other-keyring.json"
    Keyring.generate().save(other)  # another deployment's keyring: it opens nothing here
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "es.xml").write_text("<translations><totp><invalidcode>x</totp></translations>")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = quiet_env(
            data_dir,
            TWOSTEP_PORT=str(port),
            TWOSTEP_SECRETS_FILE=str(other),
            TWOSTEP_TRANSLATIONS_DIR=str(texts),
            TWOSTEP_WEBHOOK_ALLOWED_NETWORKS="0.0.0.0/0, 10.0.0.0/8",
        )
        printed, as_json = twostep(env, "check"), twostep(env, "check", "--json")
    assert printed.returncode == as_json.returncode == ExitCode.SECRETS  # the first failure's
    assert "Traceback" not in printed.stdout + printed.stderr + as_json.stderr
    statuses = [(status, name) for status, name, _ in _lines(printed.stdout)]
    failed = {"secrets", "translations", "port"}
    assert statuses == [("FAIL" if n in failed else "OK", n) for n in NAMES]
    details = {name: detail for _, name, detail in _lines(printed.stdout)}
    assert details["secrets"].startswith("the database holds secrets sealed under key k-")
    assert f"which {other} lacks" in details["secrets"]
    assert details["translations"].startswith(f"translation file {texts / 'es.xml'}: not valid")
    assert details["webhook_networks"] == (
        "admitted over http and https: 0.0.0.0/0 (every address), 10.0.0.0/8 (internal); "
        "warning: every address is admitted, internal ones are not protected"
    )
    assert details["port"].startswith(f"127.0.0.1:{port} is already in use")
    summary = json.loads(as_json.stdout)
    assert summary["ok"] is False
    assert summary["checks"] == [
        {"name": name, "ok": name not in failed, "detail": details[name]} for name in NAMES
    ]


def _checks(result: Any) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in json.loads(result.stdout)["checks"]}


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_schema_behind_this_release_fails_with_the_command_that_upgrades_it(
    tmp_path: Path, request: pytest.FixtureRequest, engine: str
) -> None:
    if engine == "sqlite":  # the database of an older release
        path = tmp_path / "data" / "twostep.db"
        path.parent.mkdir()
        url, found, answers = f"sqlite+aiosqlite:///{path}", "at revision 0001", f"SQLite {path}"
        asyncio.run(upgrade(url, "0001"))
    else:  # a database created for Twostep, never migrated
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.new_database()
        name = url.rsplit("/", 1)[1]
        found, answers = "no schema yet", f"PostgreSQL 127.0.0.1:{postgres.port}/{name} as postgres"
    result = twostep(quiet_env(tmp_path / "data", url), "check", "--json")
    assert result.returncode == ExitCode.SCHEMA, result.stdout + result.stderr
    checks = _checks(result)
    assert checks["database"] == {"name": "database", "ok": True, "detail": f"{answers} answers"}
    assert checks["schema"] == {
        "name": "schema",
        "ok": False,
        "detail": f"{found}, this release needs {head_revision()}: run `twostep migrate`",
    }


def test_on_postgresql_the_clock_is_measured_against_the_database_server(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.new_database()
    asyncio.run(upgrade(url))
    checks = _checks(twostep(quiet_env(tmp_path / "data", url), "check", "--json"))
    clock = checks["clock_skew"]
    assert clock["ok"] is True, clock
    # one machine here: the measured skew is well inside the default limit of 5 s
    skew = float(clock["detail"].split(" s ", 1)[0])
    assert abs(skew) < 1.0
    assert clock["detail"].endswith("against the database server's clock (limit 5 s)")


def test_a_postgresql_that_is_down_is_named_and_what_depends_on_it_too(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://postgres:n0t-th1s@127.0.0.1:{port}/twostep"
    # At debug level the traceback is there too, for whoever digs; the password still is not.
    debug = quiet_env(tmp_path / "data", url, TWOSTEP_LOG_LEVEL="debug")
    down = twostep(debug, "check", "--json")
    assert down.returncode == ExitCode.DATABASE
    checks = _checks(down)
    assert checks["database"]["detail"] == (
        f"cannot reach PostgreSQL 127.0.0.1:{port}/twostep as postgres: "
        "connection refused (is the server running?)"
    )
    assert checks["schema"] == {
        "name": "schema",
        "ok": False,
        "detail": "not read: the database does not answer",
    }
    assert "Traceback (most recent call last)" in down.stderr
    assert "ConnectionRefusedError" in down.stderr
    assert "n0t-th1s" not in down.stdout + down.stderr


def test_settings_that_do_not_load_are_its_one_line(tmp_path: Path) -> None:
    result = twostep(quiet_env(tmp_path / "data", TWOSTEP_WORKERS="0"), "check", "--json")
    assert result.returncode == ExitCode.CONFIGURATION
    assert json.loads(result.stdout) == {
        "ok": False,
        "checks": [
            {
                "name": "settings",
                "ok": False,
                "detail": "TWOSTEP_WORKERS: '0' is out of range (accepts: integer, 1–64)",
            }
        ],
    }


async def test_a_measurement_against_the_database_becomes_one_more_check(tmp_path: Path) -> None:
    """How a check such as the clock's joins the list: it runs only on a database that answers
    with this release's schema, and its verdict is the line."""

    async def measure(settings: Settings, db: Database) -> tuple[bool, str]:
        async with db.transaction() as tx:
            revision = await schema_revision(tx)
        return revision == head_revision(), f"measured on {revision}"

    check = measured("probe", measure)
    url = f"sqlite+aiosqlite:///{tmp_path / 'twostep.db'}"
    await upgrade(url)
    down = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/twostep"
    verdicts = []
    for database_url in (url, down):
        settings = Settings(data_dir=tmp_path, database_url=database_url)
        async with Subject(settings, lambda directory: None) as subject:
            verdicts.append(await check(subject))
    assert verdicts == [
        Check("probe", True, f"measured on {head_revision()}"),
        Check("probe", False, "not checked: the database does not answer, or is empty"),
    ]
