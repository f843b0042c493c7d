"""Seed a running Twostep for the benchmark and write wrk request files (spec section 5).

    python bench/twostep_seed.py seed --base-url URL --admin-key KEY --users N --state FILE
    python bench/twostep_seed.py requests wrong|valid --state FILE --out FILE

``seed`` creates the organization ``bench`` (production key from ``api_keys``), raises
``totp.max_failures`` to 100, then creates N users, registers a TOTP authenticator for each
and confirms it with the current code, 16 at a time. The state file keeps, per user, the
id, the Base32 secret and the newest step sent so far (``hw``): a step once accepted is
never accepted again, nor an older one.

``requests wrong`` writes one request per user with a code that matches no step near now.
``requests valid`` writes, for every user, the codes of the steps still accepted during
the coming run (default window: one past, the current and one future step) that are newer
than ``hw``, one round per step, oldest first, and moves ``hw`` on; the run walks this list
once. With fewer than ``--min`` fresh codes it first waits for the next step (at most 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from otpcodes import PERIOD, b32decode, current_step, hotp, wrong_code

ORG = "bench"
CONCURRENCY = 16


class SeedError(RuntimeError):
    """A reply that does not follow the contract: carries the request and the reply."""


@dataclass
class BenchUser:
    id: str
    secret: str
    hw: int


@dataclass
class State:
    base_url: str
    api_key: str
    users: list[BenchUser]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> State:
        raw = json.loads(path.read_text())
        users = [BenchUser(**u) for u in raw["users"]]
        return cls(base_url=raw["base_url"], api_key=raw["api_key"], users=users)


def verify_path(user_id: str) -> str:
    return f"/api/v1/org/{ORG}/users/{user_id}/totp/verify"


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    key: str,
    expect: int,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One API call; a status other than ``expect`` raises SeedError with both sides."""
    reply = await client.request(
        method, path, json=body, headers={"Authorization": f"Bearer {key}"}
    )
    if reply.status_code != expect:
        sent = json.dumps(body) if body is not None else ""
        raise SeedError(
            f"{method} {path} {sent} -> {reply.status_code} (expected {expect}): {reply.text[:600]}"
        )
    data = reply.json() if reply.content else {}
    if not isinstance(data, dict):
        raise SeedError(f"{method} {path} -> {reply.status_code}: not a JSON object: {data!r}")
    return data


def field(data: dict[str, Any], name: str, where: str) -> Any:
    if name not in data:
        raise SeedError(f"{where}: reply has no '{name}': {json.dumps(data)[:600]}")
    return data[name]


async def create_org(client: httpx.AsyncClient, admin_key: str) -> str:
    """Create the organization and return its production API key."""
    where = "POST /api/v1/organizations"
    org = await call(
        client, "POST", "/api/v1/organizations", admin_key, 201, {"name": "Bench", "domain": ORG}
    )
    keys = field(org, "api_keys", where)
    key = field(keys, "production", where)
    if not isinstance(key, str):
        raise SeedError(f"{where}: api_keys.production is not a string: {keys!r}")
    return key


async def seed_user(client: httpx.AsyncClient, key: str, n: int) -> BenchUser:
    """Create user n, register TOTP, confirm it with the current code."""
    base = f"/api/v1/org/{ORG}/users"
    user = await call(
        client,
        "POST",
        base,
        key,
        201,
        {"email": f"user{n:04d}@bench.test", "username": f"user{n:04d}"},
    )
    user_id = str(field(user, "id", f"POST {base}"))
    totp = await call(client, "POST", f"{base}/{user_id}/totp", key, 201)
    secret = field(totp, "secret", f"POST {base}/{{id}}/totp")
    step = current_step()
    confirm = await call(
        client,
        "POST",
        f"{base}/{user_id}/totp/confirm",
        key,
        200,
        {"code": hotp(b32decode(secret), step)},
    )
    field(confirm, "recovery_codes", f"POST {base}/{{id}}/totp/confirm")
    return BenchUser(id=user_id, secret=secret, hw=step)


async def seed(
    base_url: str, admin_key: str, users: int, state_path: Path, concurrency: int = CONCURRENCY
) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        key = await create_org(client, admin_key)
        await call(
            client,
            "PATCH",
            f"/api/v1/org/{ORG}/auth-config",
            key,
            200,
            {"totp": {"max_failures": 100}},
        )
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> BenchUser:
            async with gate:
                return await seed_user(client, key, n)

        t0 = time.monotonic()
        seeded = await asyncio.gather(*(one(n) for n in range(users)))
        took = time.monotonic() - t0
    State(base_url=base_url, api_key=key, users=list(seeded)).save(state_path)
    print(f"twostep: seeded {len(seeded)} users in {took:.1f} s ({3 * users / took:.0f} calls/s)")


def wrong_lines(state: State) -> list[str]:
    rnd = random.Random(2024)
    step = current_step()
    lines = []
    for u in state.users:
        code = wrong_code(b32decode(u.secret), step, rnd)
        lines.append(f"{verify_path(u.id)}\t{json.dumps({'code': code})}")
    rnd.shuffle(lines)
    return lines


PAST_ROUND_MIN_LEFT_S = 15.0


def valid_steps(now: float) -> list[int]:
    """Steps whose codes stay accepted through a run that starts at ``now``, oldest first.

    The default window is the current step, one past and one future step. The past step is
    offered only early in a step: its round goes first and must be done before the step ends.
    """
    step = current_step(now)
    left = PERIOD - now % PERIOD
    return ([step - 1] if left >= PAST_ROUND_MIN_LEFT_S else []) + [step, step + 1]


def valid_lines(state: State, steps: list[int]) -> list[str]:
    """One round per step (every user whose hw is older), rounds in step order. Each line
    ends with a third, tab-separated field, the step (verify.lua reads the first two)."""
    lines = []
    for s in steps:
        for u in state.users:
            if s > u.hw:
                code = hotp(b32decode(u.secret), s)
                lines.append(f"{verify_path(u.id)}\t{json.dumps({'code': code})}\t{s}")
    return lines


def _user_step(line: str) -> tuple[str, str]:
    path, _, step = line.split("\t")
    return path.split("/")[6], step


def write_requests(
    mode: str, state_path: Path, out: Path, minimum: int, maximum: int | None = None
) -> None:
    """Write the request file; valid codes wait for the next step if fewer than ``minimum``,
    and stop at ``maximum`` (only the users whose codes are written move their ``hw`` on)."""
    state = State.load(state_path)
    if mode == "wrong":
        lines = wrong_lines(state)
    else:
        steps = valid_steps(time.time())
        lines = valid_lines(state, steps)
        if len(lines) < minimum:
            left = PERIOD - time.time() % PERIOD
            print(f"twostep: {len(lines)} fresh codes now, waiting {left:.0f} s for a new step")
            time.sleep(left + 0.3)
            steps = valid_steps(time.time())
            lines = valid_lines(state, steps)
        if maximum is not None and len(lines) > maximum:
            lines = lines[:maximum]
        # each user's newest step among the codes written: older steps are spent with it
        sent = {user_id: int(step) for user_id, step in (_user_step(line) for line in lines)}
        for u in state.users:
            u.hw = max(u.hw, sent.get(u.id, u.hw))
        state.save(state_path)
    if not lines:
        sys.exit("twostep: no fresh valid code left for any user")
    out.write_text("\n".join(lines) + "\n")
    print(f"twostep: wrote {len(lines)} {mode} requests to {out}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("seed", help="create the organization and the users")
    s.add_argument("--base-url", required=True)
    s.add_argument("--admin-key", required=True)
    s.add_argument("--users", type=int, default=5000)
    s.add_argument("--state", type=Path, required=True)
    s.add_argument("--concurrency", type=int, default=CONCURRENCY)
    r = sub.add_parser("requests", help="write a wrk request file")
    r.add_argument("mode", choices=["wrong", "valid"])
    r.add_argument("--state", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--min", type=int, default=0, help="valid: wait for a new step below this")
    r.add_argument("--max", type=int, default=None, help="valid: at most this many codes")
    args = parser.parse_args(argv)
    if args.command == "seed":
        try:
            asyncio.run(
                seed(args.base_url, args.admin_key, args.users, args.state, args.concurrency)
            )
        except (SeedError, httpx.HTTPError) as exc:
            print(f"twostep: seeding failed: {exc}", file=sys.stderr)
            return 1
    else:
        write_requests(args.mode, args.state, args.out, args.min, args.max)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
