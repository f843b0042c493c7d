"""The ceiling: a bare FastAPI app doing one HMAC-SHA1 TOTP check per request.

Served like Twostep (``uvicorn --workers 2 --no-access-log --log-level warning``)::

    .venv/bin/uvicorn --app-dir bench ceiling:app --port 8101 --workers 2 ...

It marks what the web stack alone allows on this machine: JSON body parsing with
pydantic, one code computed for the current step (stdlib ``hmac``) and compared in
constant time, a JSON answer. No storage, no replay floor, no lockout.

Run as a script it writes the wrk request file for it (one ``PATH<TAB>BODY`` per line)::

    python bench/ceiling.py requests wrong|valid OUTFILE [--users N] [--fit SECONDS]
"""

from __future__ import annotations

import argparse
import hmac
import json
import random
import sys
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

from otpcodes import current_step, hotp, wait_for_room, wrong_code

__all__ = ["SECRET", "app"]

SECRET = b"twostep-bench-ceiling-secret"  # fixed, in memory only


class VerifyRequest(BaseModel):
    user: str
    code: str


class VerifyResult(BaseModel):
    valid: bool


app = FastAPI(title="bench ceiling", openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/verify")
async def verify(body: VerifyRequest) -> VerifyResult:
    """One HMAC-SHA1 code for the current step, compared in constant time."""
    expected = hotp(SECRET, current_step())
    return VerifyResult(valid=hmac.compare_digest(expected, body.code))


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def write_requests(mode: str, out: Path, users: int, fit: float) -> int:
    """Write ``users`` request lines; valid codes are for the current step only."""
    if mode == "valid":
        wait_for_room(fit)
    step = current_step()
    rnd = random.Random(4242)
    lines = []
    for i in range(users):
        code = hotp(SECRET, step) if mode == "valid" else wrong_code(SECRET, step, rnd)
        body = json.dumps({"user": f"user{i:04d}", "code": code}, separators=(",", ":"))
        lines.append(f"/verify\t{body}")
    out.write_text("\n".join(lines) + "\n")
    return len(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    req = sub.add_parser("requests", help="write the wrk request file")
    req.add_argument("mode", choices=["wrong", "valid"])
    req.add_argument("out", type=Path)
    req.add_argument("--users", type=int, default=2000)
    req.add_argument(
        "--fit", type=float, default=0.0, help="valid: start a new step if fewer s are left"
    )
    args = parser.parse_args(argv)
    n = write_requests(args.mode, args.out, args.users, args.fit)
    print(f"ceiling: wrote {n} {args.mode} requests to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
