"""compose.yaml and the systemd unit, checked without running them (no container engine here).

Every ``TWOSTEP_*`` value they set must be a real setting with a valid value, every secret file
they hand over must name a setting, and the proxy they put in front must be the one trusted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import yaml

from tests.server import TWOSTEP
from twostep.settings import CONFIG_ENV, SECRETS_DIR_ENV, Settings

ROOT = Path(__file__).resolve().parents[2]
LOCATORS = {CONFIG_ENV, SECRETS_DIR_ENV}  # say where settings are; not settings themselves


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def _interpolated(value: object) -> str:
    """Compose's ``${VAR:-default}`` with VAR unset: an operator may start without any."""
    text = str(value)
    assert not re.search(r"\$\{\w+\}", text), f"{text}: needs a variable without a default"
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def _settings_of(env: dict[str, str], secrets: dict[str, str]) -> Settings:
    """Settings as the node builds them (secret files stand for values of their setting)."""
    fields: dict[str, Any] = {}
    for name, value in env.items():
        assert name.startswith("TWOSTEP_"), name
        if name in LOCATORS:
            continue
        field = name.removeprefix("TWOSTEP_").lower()
        assert field in Settings.model_fields, f"{name} is no setting"
        fields[field] = value
    fields.update(secrets)
    return Settings(**fields)


def _twostep_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    return {n: s for n, s in services.items() if str(s.get("image", "")).startswith("twostep")}


def test_compose_sets_only_real_settings_with_valid_values() -> None:
    compose = _compose()
    nodes = _twostep_services(compose)
    assert {"migrate", "twostep-1", "twostep-2"} <= set(nodes)
    for service in nodes.values():
        env = {k: _interpolated(v) for k, v in service["environment"].items()}
        assert env[SECRETS_DIR_ENV] == "/run/secrets"
        secrets = {}
        for secret in service["secrets"]:
            assert secret in compose["secrets"], secret
            if env.get("TWOSTEP_SECRETS_FILE") == f"/run/secrets/{secret}":
                continue  # the keyring, shared by every node
            field = secret.removeprefix("twostep_")
            assert secret.startswith("twostep_"), secret
            assert field in Settings.model_fields, secret
            secrets[field] = "postgresql+asyncpg://twostep:pw@postgres/twostep"
            if field == "admin_api_key":
                secrets[field] = "ts_admin_compose"
        settings = _settings_of(env, secrets)
        assert settings.resolved_database_url.startswith("postgresql+asyncpg://")
        assert settings.resolved_base_url == "http://localhost:8080"
        assert str(settings.resolved_secrets_file).startswith("/run/secrets/")


def test_compose_trusts_the_proxy_alone_and_migrates_before_serving() -> None:
    compose = _compose()
    proxy = compose["services"]["proxy"]
    address = ip_address(proxy["networks"]["backend"]["ipv4_address"])
    subnet = ip_network(compose["networks"]["backend"]["ipam"]["config"][0]["subnet"])
    assert address in subnet
    caddy = (ROOT / proxy["volumes"][0].split(":")[0]).read_text()
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddy)
    assert upstreams is not None
    assert "health_uri /readyz" in caddy
    nodes = _twostep_services(compose)
    for name, node in nodes.items():
        trusted = Settings(trusted_proxies=node["environment"]["TWOSTEP_TRUSTED_PROXIES"])
        assert [str(n) for n in trusted.trusted_proxies] == [f"{address}/32"]
        if name != "migrate":
            assert node["command"] == ["serve", "--no-migrate"]
            assert f"{name}:8000" in upstreams.group(1).split()
    assert nodes["migrate"]["command"] == ["migrate"]
    first = nodes["twostep-1"]["depends_on"]
    assert first["migrate"]["condition"] == "service_completed_successfully"
    assert nodes["twostep-2"]["depends_on"]["twostep-1"]["condition"] == "service_healthy"


def _unit_lines(unit: str) -> list[tuple[str, str]]:
    pairs = []
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def test_the_systemd_unit_names_real_settings_and_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "deploy" / "twostep.service").read_text()
    pairs = _unit_lines(unit)
    env = dict(v.split("=", 1) for k, v in pairs if k == "Environment")
    assert env[SECRETS_DIR_ENV] == "%d"  # systemd's credentials directory
    credentials = [v.split(":", 1)[0] for k, v in pairs if k == "LoadCredential"]
    secrets = {c.removeprefix("twostep_"): "ts_admin_unit" for c in credentials}
    assert set(secrets) <= set(Settings.model_fields)
    env.pop(CONFIG_ENV)
    env.pop(SECRETS_DIR_ENV)
    assert _settings_of(env, secrets).data_dir == Path("/var/lib/twostep")
    assert dict(pairs)["ExecStart"].endswith("twostep serve --no-migrate")
    # systemd's own check, with the commands pointing at this checkout's twostep.
    copy = tmp_path / "twostep.service"
    copy.write_text(unit.replace("/opt/twostep/venv/bin/twostep", str(TWOSTEP)))
    analyze = shutil.which("systemd-analyze")
    assert analyze, "scripts/install-test-tools.sh installs systemd"
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not done.stderr.strip(), done.stderr
