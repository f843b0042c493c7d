"""A real Twostep server process on 127.0.0.1, and a small client for its API."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.pg import free_port

TWOSTEP = Path(sys.executable).with_name("twostep")


@dataclass
class Server:
    base_url: str
    admin_key: str
    data_dir: Path
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the ``twostep`` command against this server's database and secrets."""
        return subprocess.run(
            [str(TWOSTEP), *args], env=self.env, capture_output=True, text=True, check=check
        )


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env.update(
        TWOSTEP_DATA_DIR=str(data_dir),
        TWOSTEP_ADMIN_API_KEY=f"ts_admin_test_{secrets.token_urlsafe(16)}",
        TWOSTEP_LOG_LEVEL="debug",
    )
    if database_url:
        env["TWOSTEP_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@contextmanager
def running_server(
    data_dir: Path,
    database_url: str | None = None,
    *,
    env: dict[str, str] | None = None,
    command: tuple[str, ...] = ("serve",),
    wrapper: tuple[str, ...] = (),
    **extra: str,
) -> Iterator[Server]:
    """``twostep serve`` as a user runs it; stopped (and its logs kept) when the block ends.

    ``wrapper`` runs before the command (``("faketime", "-f", "-40s")``: a node whose clock is off).
    """
    port = free_port()
    env = env or server_env(data_dir, database_url, **extra)
    env["TWOSTEP_PORT"] = str(port)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        # A wrapper (faketime) forks the server and does not pass signals on: its own session,
        # so that the whole group can be stopped.
        process = subprocess.Popen(
            [*wrapper, str(TWOSTEP), *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=bool(wrapper),
        )
    server = Server(
        f"http://127.0.0.1:{port}", env["TWOSTEP_ADMIN_API_KEY"], data_dir, log_path, env, process
    )
    try:
        _wait_healthy(server)
        yield server
    finally:
        _signal(process, signal.SIGTERM, group=bool(wrapper))
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL, group=bool(wrapper))
            process.wait()


def _signal(process: subprocess.Popen[bytes], signum: int, *, group: bool) -> None:
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


def _wait_healthy(server: Server, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.logs()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout_s}s:\n{server.logs()}")


class Api:
    """A thin synchronous client for the management API, as a script of an admin would use."""

    def __init__(self, base_url: str, key: str, org: str | None = None) -> None:
        self.base_url = base_url
        self.key = key
        self.org = org
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def user_path(self, user_id: str, tail: str = "") -> str:
        return f"/api/v1/org/{self.org}/users/{user_id}{tail}"

    def create_user(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("email", f"{secrets.token_hex(6)}@example.test")
        response = self.http.post(f"/api/v1/org/{self.org}/users", json=fields)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def register(self, user_id: str, **params: str) -> dict[str, Any]:
        response = self.http.post(self.user_path(user_id, "/totp"), params=params)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def confirm(self, user_id: str, code: str, **params: str) -> httpx.Response:
        return self.http.post(
            self.user_path(user_id, "/totp/confirm"), json={"code": code}, params=params
        )

    def verify(self, user_id: str, code: str, **params: str) -> httpx.Response:
        return self.http.post(
            self.user_path(user_id, "/totp/verify"), json={"code": code}, params=params
        )

    def patch_config(self, patch: dict[str, Any]) -> httpx.Response:
        return self.http.patch(f"/api/v1/org/{self.org}/auth-config", json=patch)


def new_organization(server: Server, domain: str | None = None) -> tuple[Api, dict[str, Any]]:
    """A fresh organization; returns a client on its production key, and the creation answer."""
    domain = domain or f"org-{secrets.token_hex(4)}"
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.post(
            "/api/v1/organizations",
            json={"name": domain.title(), "domain": domain},
            headers={"Authorization": f"Bearer {server.admin_key}"},
        )
    assert response.status_code == 201, response.text
    body = dict(response.json())
    return Api(server.base_url, body["api_keys"]["production"], domain), body
