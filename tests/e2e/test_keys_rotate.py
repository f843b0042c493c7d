"""`twostep keys rotate` on a live server (spec 3.2, 8): no failed request while it runs, every
secret rewrapped under the new key, old and new users working, `--retire` drops the old key."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.server import Api, Server, new_organization
from twostep.otp import TotpParams, b32decode, code_for_step, time_step

PARAMS = TotpParams()
# A wide future window, so that the background traffic has many fresh codes per user.
WINDOW = {"totp": {"valid_past_tokens": 1, "valid_future_tokens": 10}}


@dataclass
class User:
    id: str
    secret: bytes
    floor: int  # the newest step the server accepted from this user
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_code(self, horizon: int = 8) -> str | None:
        """A code of a step never used before and safely inside the window, or None."""
        current = time_step(time.time(), PARAMS.period)
        with self.lock:
            step = max(self.floor + 1, current)
            if step > current + horizon:
                return None
            self.floor = step
        return code_for_step(self.secret, PARAMS, step)


@pytest.fixture(scope="module")
def org(sqlite_server: Server) -> Iterator[Api]:
    api = new_organization(sqlite_server)[0]
    assert api.patch_config(WINDOW).status_code == 200
    yield api
    api.close()


def enroll(api: Api) -> User:
    created = api.create_user()
    registration = api.register(created["id"])
    secret = b32decode(registration["secret"])
    step = time_step(time.time(), PARAMS.period)
    confirmed = api.confirm(created["id"], code_for_step(secret, PARAMS, step))
    assert confirmed.status_code == 200, confirmed.text
    return User(created["id"], secret, step)


def verify(api: Api, user: User) -> httpx.Response:
    code = user.next_code()
    assert code is not None, "ran out of fresh codes"
    return api.verify(user.id, code)


def secrets_file(server: Server) -> Path:
    return server.data_dir / "secrets.json"


def keyring(server: Server) -> dict[str, object]:
    return dict(json.loads(secrets_file(server).read_text()))


def key_ids(server: Server, users: list[User]) -> dict[str, str]:
    with sqlite3.connect(server.data_dir / "twostep.db") as db:
        rows = db.execute("SELECT user_id, key_id FROM authenticators").fetchall()
    wanted = {u.id for u in users}
    return {user_id: key_id for user_id, key_id in rows if user_id in wanted}


def rotate(server: Server, *extra: str) -> tuple[str, int, list[str]]:
    """Run `twostep keys rotate`; the new key id, how many secrets it rewrapped, what it retired."""
    done = server.cli("keys", "rotate", *extra)
    found = re.search(r"new key (\S+): (\d+) secrets rewrapped", done.stdout)
    assert found, done.stdout + done.stderr
    retired = re.search(r"retired: (.+)", done.stdout)
    return found[1], int(found[2]), retired[1].split(", ") if retired else []


class Traffic(threading.Thread):
    """Verifies fresh codes of the users, round-robin, until stopped; keeps every bad answer."""

    def __init__(self, api: Api, users: list[User]) -> None:
        super().__init__(daemon=True)
        self.api = Api(api.base_url, api.key, api.org)
        self.users = users
        self.stop = threading.Event()
        self.answered = 0
        self.progress = threading.Condition()
        self.bad: list[str] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                sent = 0
                for user in self.users:
                    # Leave the farther steps of the window to the test's own checks.
                    code = user.next_code(horizon=4)
                    if code is None or self.stop.is_set():
                        continue
                    sent += 1
                    response = self.api.verify(user.id, code)
                    if response.status_code != 200:
                        self.bad.append(f"{response.status_code} {response.text}")
                    with self.progress:
                        self.answered += 1
                        self.progress.notify_all()
                if not sent:  # every user's fresh codes are spent until the next time step
                    self.stop.wait(0.5)
        finally:
            self.api.close()

    def wait_for(self, answered: int) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: self.answered >= answered, timeout=30)


def test_rotate_then_retire_without_downtime(sqlite_server: Server, org: Api) -> None:
    server = sqlite_server
    before = [enroll(org) for _ in range(20)]
    old_key = str(keyring(server)["primary"])
    assert set(key_ids(server, before).values()) == {old_key}

    traffic = Traffic(org, before)
    traffic.start()
    try:
        traffic.wait_for(5)
        started = traffic.answered
        new_key, rewrapped, retired = rotate(server)
        during = traffic.answered - started
    finally:
        traffic.stop.set()
        traffic.join(timeout=30)
    assert traffic.bad == []
    assert during > 0, "no request was answered while the rotation ran"
    assert (rewrapped, retired) == (20, [])
    assert new_key != old_key
    ring = keyring(server)
    assert ring["primary"] == new_key
    assert set(ring["keys"]) == {old_key, new_key}  # type: ignore[call-overload]
    assert set(key_ids(server, before).values()) == {new_key}

    # Users from before the rotation still verify; users enrolled after it are sealed under the
    # new key and verify too.
    for user in before:
        assert verify(org, user).status_code == 200
    after = [enroll(org) for _ in range(3)]
    assert set(key_ids(server, after).values()) == {new_key}
    for user in after:
        assert verify(org, user).status_code == 200

    newest, rewrapped, retired = rotate(server, "--retire")
    assert rewrapped == 23
    assert sorted(retired) == sorted([old_key, new_key])
    ring = keyring(server)
    assert (ring["primary"], set(ring["keys"])) == (newest, {newest})  # type: ignore[call-overload]
    assert stat.S_IMODE(secrets_file(server).stat().st_mode) == 0o600
    assert set(key_ids(server, before + after).values()) == {newest}
    for user in before + after:
        response = verify(org, user)
        assert response.status_code == 200, response.text
    latest = enroll(org)
    assert key_ids(server, [latest]) == {latest.id: newest}
    assert verify(org, latest).status_code == 200


def test_enrolling_right_after_a_retiring_rotation(sqlite_server: Server, org: Api) -> None:
    server = sqlite_server
    # The server has decrypted secrets under the current primary key: it knows that one.
    user = enroll(org)
    assert verify(org, user).status_code == 200
    _newest, _, retired = rotate(server, "--retire")
    assert retired

    # Before it has verified anything sealed under the newest key, the server enrolls a user.
    late = enroll(org)
    ring = keyring(server)
    assert key_ids(server, [late])[late.id] in ring["keys"]  # type: ignore[operator]
    again = server.cli("keys", "rotate", check=False)
    assert again.returncode == 0, again.stderr
