"""The README's promises: its walk-through runs verbatim, and `make run`'s demo serves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.pg import free_port
from tests.server import TWOSTEP, running_server, server_env

ROOT = Path(__file__).resolve().parents[2]


def readme_block(name: str, language: str) -> str:
    """The code block of ``language`` between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    readme = (ROOT / "README.md").read_text()
    pattern = rf"<!-- {name}:start -->\n```{language}\n(.*?)```\n<!-- {name}:end -->"
    block = re.search(pattern, readme, re.S)
    assert block is not None, f"README lost its {name} block"
    return block.group(1)


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Until the demo serves; a first start migrates and hashes, which a busy machine slows."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the demo exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"the demo did not serve within {timeout_s} s")


def walkthrough() -> str:
    return readme_block("walkthrough", "bash")


def test_readme_walkthrough_runs_verbatim(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        workdir = tmp_path / "user"
        (workdir / "var").mkdir(parents=True)
        (workdir / "var" / "admin-api-key").write_text(server.admin_key + "\n")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough()],
            cwd=workdir,
            env={"PATH": "/usr/bin:/bin", "TWOSTEP_URL": server.base_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert out.splitlines()[0].startswith("otpauth://totp/Acme:alice%40acme.test?secret=")
    assert '"code_reused"' in out
    assert '"valid": true' in out
    summary, _ = json.JSONDecoder().raw_decode(out[out.rindex("{\n") :])
    assert summary["enabled"] is True
    assert summary["recovery_codes_remaining"] == 5
    # The journey part: the code is asked for, the recovery alternative taken, a token issued.
    steps = [json.loads(line) for line in out.splitlines()[-3:]]
    assert steps[0]["journeyStepId"] == "TotpAuthentication"
    assert steps[0]["data"]["payload"] == {"alternatives": ["recovery_code"]}
    assert steps[1]["journeyStepId"] == "RecoveryCode"
    assert steps[2]["amr"] == ["pwd", "recovery"]


def test_demo_command_sets_up_once_and_serves(tmp_path: Path) -> None:
    env = server_env(tmp_path, None)
    del env["TWOSTEP_ADMIN_API_KEY"]
    env["TWOSTEP_PORT"] = str(free_port())
    base = f"http://127.0.0.1:{env['TWOSTEP_PORT']}"
    outputs = []
    for _ in range(2):
        process = subprocess.Popen(
            [str(TWOSTEP), "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            wait_healthy(base, process)
            admin_key = (tmp_path / "admin-api-key").read_text().strip()
            org = httpx.get(
                f"{base}/api/v1/organizations/demo",
                headers={"Authorization": f"Bearer {admin_key}"},
            )
            assert org.status_code == 200, org.text
            users = httpx.get(
                f"{base}/api/v1/org/demo/users", headers={"Authorization": f"Bearer {admin_key}"}
            ).json()
            assert [u["email"] for u in users["data"]] == ["demo@demo.test"]
        finally:
            process.terminate()
            assert process.stdout is not None
            outputs.append(process.communicate(timeout=15)[0].decode())
    assert "(created now)" in outputs[0]
    assert "demo@demo.test / demo-password" in outputs[0]
    assert f"sign in:           {base}/auth/login?org=demo" in outputs[0]
    assert "(already there)" in outputs[1]
    assert admin_key in outputs[0]  # shown once, at first start...
    assert admin_key not in outputs[1]  # ...and never again


def test_readme_client_example_runs_against_the_demo(tmp_path: Path) -> None:
    """The typed-client example, verbatim but for the port, against `twostep demo`."""
    env = server_env(tmp_path, None)
    env["TWOSTEP_PORT"] = str(free_port())
    base = f"http://127.0.0.1:{env['TWOSTEP_PORT']}"
    example = readme_block("client-example", "python")
    assert "http://127.0.0.1:8000" in example
    process = subprocess.Popen(
        [str(TWOSTEP), "demo"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(base, process)
        result = subprocess.run(
            [sys.executable, "-c", example.replace("http://127.0.0.1:8000", base)],
            env={"PATH": f"{TWOSTEP.parent}:/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "recovery codes: [" in result.stdout
    assert "signed in with ['pwd', 'otp'] as " in result.stdout


def test_readme_screenshots_are_there_and_small() -> None:
    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\((docs/screenshots/[^)]+\.png)\)", readme)
    assert len(images) >= 3
    for image in images:
        path = ROOT / image
        assert path.is_file(), image
        assert path.stat().st_size < 100_000, image
