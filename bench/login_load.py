"""Load driver for the login figures: whole sign-ins (password + TOTP code), not single requests.

wrk cannot follow a multi-step flow with a CSRF token, so this asyncio + httpx driver keeps
``--concurrency`` sign-ins in flight for ``--duration`` seconds, each one a user never signed in
before in this run, with the code of the current step, and appends one JSON line to RAW::

    python bench/login_load.py journey|pages --base-url URL --logins FILE --first I \\
        --concurrency C --duration S --server-pgid PGID --raw RAW

``journey``: the headless journey API, ``POST /api/v1/journeys/login/start`` then two
``submit`` calls (password, then code) until ``Success`` with a session token.
``pages``: the hosted sign-in page as a browser without JavaScript does it: ``GET
/auth/login?org=bench`` (a form with its CSRF token), ``POST /auth/journey`` (password),
answered by the code page (a new CSRF token), ``POST /auth/journey`` (code); signed in
when the answer is a 303 that sets the session cookie.

Any other answer counts as unexpected (with the first one kept): the table then refuses to
report. The server's CPU (every process in the process groups given) is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from otpcodes import b32decode, current_step, hotp
from twostep_seed import ORG

__all__ = ["LoginRun", "group_cpu_s", "main"]

CSRF = re.compile(r'name="csrf" value="([^"]*)"')
SESSION_COOKIE = "twostep_session"


class Unexpected(Exception):
    """An answer a sign-in with the right password and a fresh code must not get."""


@dataclass
class LoginRun:
    flow: str
    conn: int
    logins: int = 0
    secs: float = 0.0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests_per_login: int = 0
    unexpected: int = 0
    first_unexpected: str = ""
    server_cores: float = 0.0
    per_core: float = 0.0
    users_left: int = 0
    argon2: str = ""
    driver: str = "bench/login_load.py (asyncio + httpx)"
    latencies: list[float] = field(default_factory=list, repr=False)


def group_cpu_s(pgids: set[int]) -> float:
    """CPU seconds (user + system) of every process whose process group is in ``pgids``."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # it ended while we looked
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) in pgids:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _expect(reply: httpx.Response, status: int, what: str) -> None:
    if reply.status_code != status:
        raise Unexpected(f"{what}: {reply.status_code} {reply.text[:300]}")


def _code(secret: str) -> str:
    return hotp(b32decode(secret), current_step())


async def journey_login(client: httpx.AsyncClient, user: dict[str, str], password: str) -> None:
    start = await client.post(
        "/api/v1/journeys/login/start", json={"client_id": f"{ORG}-production"}
    )
    _expect(start, 200, "start")
    session = start.json().get("session")
    step = await client.post(
        f"/api/v1/journeys/sessions/{session}/submit",
        json={"input": {"username": user["username"], "password": password}},
    )
    _expect(step, 200, "password")
    if step.json().get("journeyStepId") != "TotpAuthentication":
        raise Unexpected(f"password: {step.text[:300]}")
    done = await client.post(
        f"/api/v1/journeys/sessions/{session}/submit",
        json={"input": {"code": _code(user["secret"])}},
    )
    _expect(done, 200, "code")
    body = done.json()
    if body.get("journeyStepId") != "Success" or not body.get("data", {}).get("token"):
        raise Unexpected(f"code: {done.text[:300]}")


def _csrf(page: httpx.Response, what: str) -> str:
    _expect(page, 200, what)
    found = CSRF.search(page.text)
    if found is None:
        raise Unexpected(f"{what}: no CSRF token in the page")
    return found.group(1)


async def page_login(client: httpx.AsyncClient, user: dict[str, str], password: str) -> None:
    client.cookies.clear()  # a new browser for every sign-in
    csrf = _csrf(await client.get("/auth/login", params={"org": ORG}), "login page")
    form = {"csrf": csrf, "step": "Password", "username": user["username"], "password": password}
    sent = await client.post("/auth/journey", data=form)
    if sent.status_code == 303:  # a redirect to the code page, or the code page itself
        sent = await client.get(sent.headers["location"])
    if 'name="step" value="TotpAuthentication"' not in sent.text:
        raise Unexpected(f"password form: {sent.status_code}, not the code page")
    csrf = _csrf(sent, "code page")
    form = {"csrf": csrf, "step": "TotpAuthentication", "code": _code(user["secret"])}
    done = await client.post("/auth/journey", data=form)
    _expect(done, 303, "code form")
    if SESSION_COOKIE not in done.cookies:
        raise Unexpected(f"code form: no session cookie, to {done.headers.get('location')}")


FLOWS = {"journey": (journey_login, 3), "pages": (page_login, 3)}


async def run(
    flow: str,
    base_url: str,
    users: list[dict[str, str]],
    password: str,
    conn: int,
    duration: float,
    pgids: set[int],
) -> LoginRun:
    login, per_login = FLOWS[flow]
    result = LoginRun(flow=flow, conn=conn, requests_per_login=per_login)
    queue = list(reversed(users))
    limits = httpx.Limits(max_connections=conn, max_keepalive_connections=conn)

    async def worker(deadline: float) -> None:
        async with httpx.AsyncClient(
            base_url=base_url, timeout=30, limits=limits, follow_redirects=False
        ) as client:
            while queue and time.monotonic() < deadline:
                user = queue.pop()
                t0 = time.monotonic()
                try:
                    await login(client, user, password)
                except (Unexpected, httpx.HTTPError, ValueError, KeyError) as exc:
                    result.unexpected += 1
                    if not result.first_unexpected:
                        result.first_unexpected = f"{type(exc).__name__}: {exc}"[:400]
                    continue
                result.latencies.append(time.monotonic() - t0)

    cpu0, t0 = group_cpu_s(pgids), time.monotonic()
    await asyncio.gather(*(worker(t0 + duration) for _ in range(conn)))
    result.secs = time.monotonic() - t0
    result.server_cores = round((group_cpu_s(pgids) - cpu0) / result.secs, 2)
    lat = sorted(result.latencies)
    result.logins = len(lat)
    result.users_left = len(queue)
    result.rate = round(result.logins / result.secs, 2)
    if lat:
        result.p50_ms = round(1000 * lat[len(lat) // 2], 1)
        result.p99_ms = round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1)
    if result.server_cores > 0:
        result.per_core = round(result.rate / result.server_cores, 2)
    if not queue and result.secs < 0.9 * duration:
        result.first_unexpected = result.first_unexpected or "ran out of users before the end"
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flow", choices=list(FLOWS))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--logins", type=Path, required=True, help="bulk_seed.py's logins file")
    parser.add_argument("--first", type=int, default=0, help="first user of the list to use")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--server-pgid", type=int, action="append", default=[])
    parser.add_argument("--raw", type=Path, required=True)
    args = parser.parse_args(argv)
    logins: dict[str, Any] = json.loads(args.logins.read_text())
    users = logins["users"][args.first :]
    result = asyncio.run(
        run(
            args.flow,
            args.base_url,
            users,
            logins["password"],
            args.concurrency,
            args.duration,
            set(args.server_pgid),
        )
    )
    result.argon2 = str(logins.get("argon2", ""))
    item = {"kind": "login", **{k: v for k, v in asdict(result).items() if k != "latencies"}}
    with args.raw.open("a") as f:
        f.write(json.dumps(item) + "\n")
    print(
        f"  login {args.flow} c={args.concurrency}: {result.rate} sign-ins/s, p50 {result.p50_ms} ms,"
        f" p99 {result.p99_ms} ms, server {result.server_cores} cores, {result.per_core}/s per core,"
        f" unexpected {result.unexpected} {result.first_unexpected}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
