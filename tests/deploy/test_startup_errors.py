"""Every start-up mistake of an operator is one line naming it, and an exit code of its own:
no traceback (unless TWOSTEP_LOG_LEVEL=debug), never a password, and "listening" only on a
socket that is bound. Each case runs the real ``twostep`` command."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.pg import PostgresServer, free_port
from tests.server import TWOSTEP, server_env
from twostep.oauth.keys import rotate_signing_keys
from twostep.services.startup_errors import ExitCode, settings_problems
from twostep.settings import CONFIG_ENV, Settings
from twostep.settings_reference import kind
from twostep.storage.migrate import head_revision, upgrade
from twostep.wiring import build_runtime


def quiet_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The settings of a test server, at the log level operators run with."""
    extra = {"TWOSTEP_LOG_LEVEL": "info", "TWOSTEP_PORT": str(free_port()), **extra}
    return server_env(data_dir, database_url, **extra)


def twostep(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TWOSTEP), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def refused(result: subprocess.CompletedProcess[str], code: ExitCode) -> str:
    """The one line the command printed on standard error, having exited with ``code``."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output, output
    assert "listening" not in output, output
    assert result.stderr.count("\n") == 1, output
    return result.stderr.strip()


# -- settings ----------------------------------------------------------------------------------


def test_a_wrong_setting_is_named_with_what_it_accepts(tmp_path: Path) -> None:
    env = quiet_env(tmp_path / "data", TWOSTEP_PORT="abc")
    line = refused(twostep(env, "serve"), ExitCode.CONFIGURATION)
    assert (
        line == "configuration: TWOSTEP_PORT: 'abc' is not an integer (accepts: integer, 1–65535)"
    )
    assert not (tmp_path / "data").exists()  # nothing was done


# A value each kind of setting refuses, and how the refusal reads.
_REFUSED = {
    "integer": ("many", "is not an integer"),
    "number": ("soon", "is not a number"),
    "boolean": ("perhaps", "is not true or false"),
    "CIDR list": ("10.0.0.300/8", "is refused: '10.0.0.300/8' does not appear to be an IPv4"),
}


@pytest.mark.parametrize(
    "name", [n for n, f in Settings.model_fields.items() if kind(f).split(",")[0] in _REFUSED]
)
def test_every_setting_that_can_be_wrong_says_so_by_its_variable(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepts = kind(Settings.model_fields[name])
    value, phrase = _REFUSED[accepts.split(",")[0]]
    monkeypatch.setenv(f"TWOSTEP_{name.upper()}", value)
    with pytest.raises(ValidationError) as refusal:
        Settings()
    (line,) = settings_problems(refusal.value)
    assert line.startswith(f"TWOSTEP_{name.upper()}: '{value}' {phrase}"), line
    assert line.endswith(f"(accepts: {accepts})")


def test_a_value_out_of_range_and_one_from_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "twostep.toml"
    config.write_text("workers = 0\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("TWOSTEP_DB_POOL_SIZE", "-1")
    with pytest.raises(ValidationError) as refusal:
        Settings()
    assert sorted(settings_problems(refusal.value)) == [
        "TWOSTEP_DB_POOL_SIZE: '-1' is out of range (accepts: integer, ≥ 1)",
        f"workers in {config}: 0 is out of range (accepts: integer, 1–64)",
    ]


# -- the database ------------------------------------------------------------------------------


def test_a_database_that_is_down_is_named_without_its_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://twostep:pa55-w0rd-xyz@127.0.0.1:{port}/twostep"
    result = twostep(quiet_env(tmp_path / "data", url), "serve")
    assert refused(result, ExitCode.DATABASE) == (
        f"database: cannot reach PostgreSQL 127.0.0.1:{port}/twostep as twostep: "
        "connection refused (is the server running?)"
    )
    assert "pa55-w0rd-xyz" not in result.stdout + result.stderr


def test_a_sqlite_database_that_cannot_be_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.write_text("a file where the data directory should be\n")
    line = refused(twostep(quiet_env(data_dir), "serve"), ExitCode.DATABASE)
    assert line == (
        f"database: SQLite {data_dir}/twostep.db cannot be created: {data_dir} is not a directory"
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_serving_without_migrating_needs_a_schema(
    tmp_path: Path, request: pytest.FixtureRequest, engine: str
) -> None:
    url = None  # SQLite: the file does not exist yet
    if engine == "postgres":  # a database created for Twostep, never migrated
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.new_database()
    result = twostep(quiet_env(tmp_path / "data", url), "serve", "--no-migrate")
    assert refused(result, ExitCode.SCHEMA) == (
        f"schema: no schema yet, this release needs {head_revision()}: run `twostep migrate`"
    )


def test_a_schema_of_a_newer_release_stops_the_start(tmp_path: Path) -> None:
    database = tmp_path / "data" / "twostep.db"
    database.parent.mkdir()
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{database}"))
    with sqlite3.connect(database) as connection:  # as a later release would leave it
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    line = refused(twostep(quiet_env(tmp_path / "data"), "serve"), ExitCode.SCHEMA)
    assert line.startswith(f"schema: SQLite {database} cannot be upgraded to {head_revision()}: ")
    assert "'9999'" in line


# -- the keyring -------------------------------------------------------------------------------


def seal_a_secret(data_dir: Path) -> None:
    """Migrate the SQLite database of ``data_dir`` and seal a secret in it with its keyring."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir)

    async def prepare() -> None:
        await upgrade(settings.resolved_database_url)
        runtime = build_runtime(settings)
        try:
            await rotate_signing_keys(runtime, publish_for_s=0)  # a signing key, sealed
        finally:
            await runtime.http.aclose()
            await runtime.db.dispose()

    asyncio.run(prepare())


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose database holds a secret sealed by its keyring."""
    data_dir = tmp_path_factory.mktemp("sealed")
    seal_a_secret(data_dir)
    return data_dir


def _keyring_case(case: str, data_dir: Path, work: Path) -> tuple[Path, str]:
    """A keyring file broken as ``case`` says, and the start of what the server says of it."""
    path = work / "keyring.json"
    if case == "missing":
        return path, f"{path} is missing, but the database holds secrets sealed under key k-"
    if case == "unreadable":
        path.mkdir()  # (these tests run as root, whom no mode keeps from reading a file)
        return path, f"{path} is not a regular file"
    if case == "malformed":
        path.write_text('{"primary": "k-1", "keys": {"k-1": "short"}}')
        path.chmod(0o600)
        return path, f"{path}: key k-1 is not valid base64"
    shutil.copy(data_dir / "secrets.json", path)
    path.chmod(0o644)
    return path, f"{path} has mode 0644: other users can read it; run `chmod 600 {path}`"


@pytest.mark.parametrize("case", ["missing", "unreadable", "malformed", "world-readable"])
def test_a_keyring_that_cannot_serve_stops_the_start(
    sealed: Path, tmp_path: Path, case: str
) -> None:
    path, says = _keyring_case(case, sealed, tmp_path)
    env = quiet_env(sealed, TWOSTEP_SECRETS_FILE=str(path))
    line = refused(twostep(env, "serve", "--no-migrate"), ExitCode.SECRETS)
    assert line.startswith(f"secrets: {says}"), line
    if case == "missing":  # a new keyring would open nothing: none was made
        assert not path.exists()


# -- texts and the port ------------------------------------------------------------------------


def test_a_broken_translation_file_is_named_with_its_key(tmp_path: Path) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "fr.json").write_text(json.dumps({"totp": {"invalidcod": "x"}}))
    env = quiet_env(tmp_path / "data", TWOSTEP_TRANSLATIONS_DIR=str(texts))
    line = refused(twostep(env, "serve"), ExitCode.TRANSLATIONS)
    assert line.startswith(f"translations: translation file {texts / 'fr.json'}: key ")
    assert "'totp.invalidcod'" in line


def test_a_taken_port_is_said_and_nothing_claims_to_listen(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = quiet_env(tmp_path / "data", TWOSTEP_PORT=str(port))
        line = refused(twostep(env, "serve"), ExitCode.PORT)
    assert line == (
        f"port: 127.0.0.1:{port} is already in use by another process: stop it or change "
        "TWOSTEP_PORT"
    )
    assert not (tmp_path / "data" / "twostep.db").exists()  # refused before migrating


def test_the_operations_guide_lists_every_exit_code() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    table = guide.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = [int(row.split("|")[1]) for row in table.splitlines() if row[:3].strip("| ").isdigit()]
    assert codes == [code.value for code in ExitCode]
