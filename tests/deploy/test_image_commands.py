"""The image's install and start commands, run outside a container engine (none runs here).

The test copies what the Dockerfile's build stage copies into a clean temporary directory, runs
its install command there (build the wheel, install it with the locked dependency versions in a
fresh virtual environment), then starts the server as the image's entry point does, with the
image's environment, and asks it what an operator and an integrator would: the healthcheck,
the API, a translated page (templates, catalogues and migrations come from the wheel).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.deploy.dockerfile import Instruction, stages
from tests.pg import free_port
from tests.server import Server, _wait_healthy, new_organization

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")


def _copy_build_context(build: list[Instruction], into: Path) -> None:
    """Do the build stage's COPY lines: repository paths into the stage's WORKDIR."""
    for instruction in build:
        if instruction.keyword != "COPY":
            continue
        *sources, dest = shlex.split(instruction.arguments)
        target = into / dest
        for source in sources:
            origin = ROOT / source
            place = target / origin.name if dest.endswith("/") or len(sources) > 1 else target
            if origin.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
                shutil.copytree(origin, place, ignore=ignore)
            else:
                place.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, place)


def _install(build: list[Instruction], workdir: Path, prefix: Path) -> None:
    """The build stage's RUN of the install script, with PREFIX moved into the temp dir."""
    run = next(i for i in build if i.keyword == "RUN" and "container-install.sh" in i.arguments)
    argv = [
        prefix.as_posix() if arg == "/opt/twostep" else arg for arg in shlex.split(run.arguments)
    ]
    # The caller's environment (its registry access, certificates and uv cache, as `make test`
    # has them), without settings of a server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env.update(UV=str(UV), PYTHON=sys.executable)
    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _image_env(final: list[Instruction], prefix: Path, data: Path, port: int) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in final:
        if instruction.keyword == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(instruction.arguments))
    # Reachable from outside the container.
    assert env["TWOSTEP_HOST"] == "0.0.0.0"  # noqa: S104
    venv = prefix / "venv"
    env.update(
        TWOSTEP_HOST="127.0.0.1",  # but not from outside this test machine
        TWOSTEP_PORT=str(port),
        TWOSTEP_DATA_DIR=str(data),
        TWOSTEP_VENV=str(venv),
        TWOSTEP_ADMIN_API_KEY="ts_admin_image_test_0123456789abcdef",
        PATH=f"{venv / 'bin'}:/usr/bin:/bin",
        HOME=str(data),
    )
    return env


def _entrypoint(final: list[Instruction]) -> list[str]:
    """ENTRYPOINT, with the copied start script read from the repository."""
    argv: list[str] = json.loads(next(i for i in final if i.keyword == "ENTRYPOINT").arguments)
    copies = [shlex.split(i.arguments) for i in final if i.keyword == "COPY"]
    placed = {dest: source for source, dest in (c for c in copies if not c[0].startswith("--"))}
    return [str(ROOT / placed[arg]) if arg in placed else arg for arg in argv]


def test_the_image_commands_install_the_wheel_and_serve(tmp_path: Path) -> None:
    build, final = stages(ROOT / "Dockerfile")
    workdir = tmp_path / "src"
    _copy_build_context(build, workdir)
    _install(build, workdir, tmp_path / "opt")
    # The server runs from the fresh environment, not from this checkout.
    site = subprocess.run(
        [str(tmp_path / "opt/venv/bin/python"), "-c", "import twostep; print(twostep.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert site.startswith(str(tmp_path / "opt/venv")), site

    port = free_port()
    env = _image_env(final, tmp_path / "opt", tmp_path / "data", port)
    entry = _entrypoint(final)
    # As compose.yaml does: the schema first, then a node that does not migrate.
    subprocess.run([*entry, "migrate"], cwd=tmp_path, env=env, check=True, capture_output=True)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*entry, "serve", "--no-migrate"], cwd=tmp_path, env=env, stdout=log, stderr=log
        )
    server = Server(
        f"http://127.0.0.1:{port}", env["TWOSTEP_ADMIN_API_KEY"], tmp_path, log_path, env, process
    )
    try:
        _wait_healthy(server)
        _check_serving(final, server)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _check_serving(final: list[Instruction], server: Server) -> None:
    health = next(i for i in final if i.keyword == "HEALTHCHECK").arguments
    command: list[str] = json.loads(health.split(" CMD ", 1)[1])
    assert "/readyz" in command[-1]
    done = subprocess.run(command, env=server.env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert httpx.get(f"{server.base_url}/readyz").json() == {"status": "ok"}
    api, _ = new_organization(server, "imagetest")
    user = api.create_user(email="ana@imagetest.test")
    assert api.request("GET", api.user_path(user["id"])).json()["email"] == "ana@imagetest.test"
    api.close()
    page = httpx.get(
        f"{server.base_url}/auth/login?org=imagetest", headers={"Accept-Language": "fr"}
    )
    assert page.status_code == 200
    assert "Se connecter" in page.text


def test_the_image_runs_unprivileged_on_a_slim_python_and_checks_readiness() -> None:
    build, final = stages(ROOT / "Dockerfile")
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert [i.arguments for i in (build[0], final[0])] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE}",
    ]
    user = [i.arguments for i in final if i.keyword == "USER"]
    assert user
    assert user[-1] not in {"root", "0"}
    assert any(i.keyword == "COPY" and "--from=build" in i.arguments for i in final)
    # Nothing of the build stage's tools in the final image but the environment.
    assert not any(i.keyword == "RUN" and "pip install" in i.arguments for i in final)
