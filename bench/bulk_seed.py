"""Seed a Twostep database in bulk for the benchmark, without HTTP and without argon2 per user.

    TWOSTEP_DATA_DIR=... [TWOSTEP_DATABASE_URL=...] [TWOSTEP_SECRETS_FILE=...] \\
        python bench/bulk_seed.py --users N --hit H --state FILE [--logins FILE]

Through the product's own parts: the schema is migrated by ``storage.migrate.upgrade``, the
organization ``bench`` is created by ``services.organizations.create_organization`` (its
production API key goes into the state file), ``totp.max_failures`` is raised to 100 by
``patch_auth_config``, each secret is sealed by ``services.enrollment.authenticator_row`` under
the runtime's keyring, and one argon2id hash of ``PASSWORD`` (the product's parameters) is made
once and given to every user. Then N users, each with an active TOTP authenticator, go in with
the product's tables' INSERT statements run as batched executemany calls in ONE transaction.

Secrets are derived from the user's number, so the state file only lists the H users the load
will hit (evenly spread over the N, in the twostep_seed.py state format: id, Base32 secret,
``hw`` = the newest step sent so far).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from twostep.otp import TotpParams
from twostep.services.enrollment import authenticator_row
from twostep.services.organizations import create_organization, patch_auth_config
from twostep.services.runtime import Actor, Runtime
from twostep.settings import Settings
from twostep.storage.migrate import upgrade
from twostep.storage.repositories.organizations import get_environment
from twostep.storage.repositories.users import fold
from twostep.storage.tables import applications, authenticators, users
from twostep.storage.tables.base import new_id
from twostep.wiring import build_runtime
from twostep_seed import ORG, BenchUser, State

__all__ = ["PASSWORD", "argon2_parameters", "bench_secret", "login_users", "seed"]

PASSWORD = "bench-password-correct-horse"
BATCH = 20_000
MAX_FAILURES = 100  # the policy's ceiling: wrong-code runs must never reach a lockout


def bench_secret(n: int) -> bytes:
    """User n's 160-bit TOTP secret, derived from n (the bench recomputes it)."""
    return hashlib.sha256(f"twostep-bench-secret-{n}".encode()).digest()[:20]


def hit_numbers(users: int, hit: int) -> list[int]:
    """``hit`` user numbers evenly spread over ``users``."""
    hit = min(hit, users)
    return [i * users // hit for i in range(hit)]


def argon2_parameters(password_hash: str) -> str:
    """The parameters a PHC argon2 hash was made with, as the table names them."""
    variant, _, params = password_hash.split("$")[1:4]
    named = dict(item.split("=") for item in params.split(","))
    return f"{variant} m={int(named['m']) // 1024} MiB t={named['t']} p={named['p']}"


def login_users(count: int, hit: int) -> dict[str, Any]:
    """The sign-in users (next to each hit user, never one the verify load hits) and their
    password, for login_load.py: username and Base32 secret."""
    wanted = set(hit_numbers(count, hit))
    numbers = [n + 1 for n in sorted(wanted) if n + 1 < count and n + 1 not in wanted]
    return {
        "password": PASSWORD,
        "users": [
            {"username": f"user{n:07d}", "secret": base64.b32encode(bench_secret(n)).decode()}
            for n in numbers
        ],
    }


def _rows(
    rt: Runtime, env_id: str, app_id: str, password_hash: str, first: int, last: int, now: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, str]]:
    user_rows, auth_rows, ids = [], [], {}
    params = TotpParams()
    for n in range(first, last):
        user_id = new_id()
        ids[n] = user_id
        email, username = f"user{n:07d}@bench.test", f"user{n:07d}"
        user_rows.append(
            {
                "id": user_id,
                "environment_id": env_id,
                "email": email,
                "username": username,
                "phone": None,
                "password_hash": password_hash,
                "status": "active",
                "created_at": now,
                "updated_at": now,
                "search_key": f"{fold(email)}\n{fold(username)}",
            }
        )
        auth_rows.append(
            authenticator_row(rt, new_id(), user_id, app_id, bench_secret(n), params, "active", now)
        )
    return user_rows, auth_rows, ids


def _batches(total: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, BATCH):
        yield first, min(total, first + BATCH)


async def seed(settings: Settings, count: int, hit: int) -> tuple[State, dict[str, Any]]:
    """Seed ``count`` users; the state of the ``hit`` ones and the sign-in users."""
    t0 = time.monotonic()
    await upgrade(settings.resolved_database_url)
    rt = build_runtime(settings)
    try:
        actor = Actor("cli")
        created = await create_organization(rt, actor, name="Bench", domain=ORG, email_domains=[])
        async with rt.db.transaction() as tx:
            env = await get_environment(tx, ORG, "production")
            assert env is not None
            app_id = (
                await tx.execute(
                    select(applications.c.id).where(
                        applications.c.environment_id == env.id,
                        applications.c.is_default.is_(True),
                    )
                )
            ).scalar_one()
        await patch_auth_config(rt, actor, env, {"totp": {"max_failures": MAX_FAILURES}})
        password_hash = await rt.passwords.hash_async(PASSWORD)
        wanted = set(hit_numbers(count, hit))
        hit_ids: dict[int, str] = {}
        now = rt.clock.now()
        # One transaction: a writer's turn held for the whole seed, one commit at the end.
        async with rt.db.transaction() as tx:
            if tx.dialect.name == "sqlite":
                # Three of the indexes are on random UUIDs: with SQLite's default 2 MB page
                # cache every insert would read pages back from disk; 1 GB keeps them.
                await tx.execute(text("PRAGMA cache_size=-1000000"))
            for first, last in _batches(count):
                user_rows, auth_rows, ids = _rows(
                    rt, env.id, app_id, password_hash, first, last, now
                )
                await tx.execute(insert(users), user_rows)
                await tx.execute(insert(authenticators), auth_rows)
                hit_ids.update((n, i) for n, i in ids.items() if n in wanted)
    finally:
        await rt.http.aclose()
        await rt.db.dispose()
    if settings.database_url == "":
        # Fold the WAL into the file: the cache keeps the .db file alone.
        with sqlite3.connect(settings.data_dir / "twostep.db") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    state = State(
        base_url="",
        api_key=created.api_keys["production"],
        users=[
            BenchUser(id=hit_ids[n], secret=base64.b32encode(bench_secret(n)).decode(), hw=-1)
            for n in sorted(hit_ids)
        ],
    )
    logins = login_users(count, hit)
    logins["argon2"] = argon2_parameters(password_hash)
    took = time.monotonic() - t0
    print(f"bulk_seed: {count} users and authenticators in {took:.1f} s ({len(hit_ids)} hit)")
    return state, logins


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--hit", type=int, default=5000, help="users the load will address")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--logins", type=Path, help="also write the sign-in users here")
    args = parser.parse_args(argv)
    state, logins = asyncio.run(seed(Settings(), args.users, args.hit))
    state.save(args.state)
    if args.logins is not None:
        args.logins.write_text(json.dumps(logins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
