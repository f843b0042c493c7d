"""Settings from a TOML file and a secrets directory beside the environment, which wins.

A real ``twostep serve`` reads them (from ``TWOSTEP_CONFIG`` and from ``--config``, whose file
its worker processes must see too); the refusals are checked on ``Settings`` and the CLI.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.server import TWOSTEP, running_server, server_env
from twostep.settings import CONFIG_ENV, SECRETS_DIR_ENV, Settings

TOML = """\
port = 1
max_body_bytes = 2048
base_url = "https://toml.example.test"
trusted_proxies = ["10.0.0.0/8", "192.0.2.1"]
"""


def _files(tmp_path: Path, extra_toml: str = "") -> tuple[Path, Path]:
    config = tmp_path / "twostep.toml"
    config.write_text(TOML + extra_toml)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    # As a container engine mounts a secret: the file's whole content, a newline at the end.
    (secrets / "twostep_base_url").write_text("https://secret.example.test\n")
    return config, secrets


@pytest.mark.parametrize("how", ["TWOSTEP_CONFIG", "--config"])
def test_a_served_server_takes_the_file_the_secrets_and_the_environment_first(
    tmp_path: Path, how: str
) -> None:
    # With --config and two worker processes, the workers must read the same file.
    config, secrets = _files(tmp_path, "workers = 2\n" if how == "--config" else "")
    env = server_env(tmp_path / "data", None, **{SECRETS_DIR_ENV: str(secrets)})
    command: tuple[str, ...] = ("serve",)
    if how == "--config":
        command = ("--config", str(config), "serve")
    else:
        env[CONFIG_ENV] = str(config)
    # The file says port 1; the environment's port (set by running_server) must win.
    with running_server(tmp_path / "data", env=env, command=command) as server:
        issuer = httpx.get(f"{server.base_url}/.well-known/openid-configuration").json()["issuer"]
        assert issuer == "https://secret.example.test"  # the secrets directory beats the file
        for _ in range(4):  # every worker applies the file's body limit
            big = httpx.post(
                f"{server.base_url}/api/v1/organizations",
                content=b"{" + b" " * 3000 + b"}",
                headers={
                    "Authorization": f"Bearer {server.admin_key}",
                    "Content-Type": "application/json",
                },
            )
            assert big.status_code == 413, big.text
            assert big.json()["code"] == "payload_too_large"


def test_the_file_gives_lists_and_the_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = _files(tmp_path)
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("TWOSTEP_MAX_BODY_BYTES", "4096")
    settings = Settings()
    assert settings.max_body_bytes == 4096
    assert settings.port == 1
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32"]


def test_a_key_that_names_no_setting_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "twostep.toml"
    config.write_text("prot = 8080\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValueError, match="not a setting: prot"):
        Settings()


@pytest.mark.parametrize("variable", [CONFIG_ENV, SECRETS_DIR_ENV])
def test_a_missing_file_or_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=f"{variable}: no such"):
        Settings()


def test_the_command_stops_on_a_bad_configuration_and_says_why(tmp_path: Path) -> None:
    config = tmp_path / "twostep.toml"
    config.write_text('port = "eighty"\n')
    env = server_env(tmp_path / "data", None)
    result = subprocess.run(
        [str(TWOSTEP), "--config", str(config), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("configuration:")
    assert "port" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was done
