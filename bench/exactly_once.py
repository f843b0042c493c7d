"""After a run on the PostgreSQL nodes: count the accepted codes in the audit trail.

    python bench/exactly_once.py MODE CONN --database-url URL --since EPOCH --wrk FILE \\
        --codes N --raw RAW

Every code check writes one ``totp.verify`` audit row in the transaction that decides it, so
the rows with outcome ``accepted`` since the run began are the codes the database accepted.

- wrong codes: none may be accepted.
- valid codes: the list of N fresh codes went to BOTH nodes (one wrk thread per node, each
  walking the whole list), so each code was raced across the nodes. Exactly once means: the
  database accepted as many codes as the clients were told ``valid`` (none lost, none
  phantom), and, when both threads got every reply, exactly N were accepted and the other N
  answers were ``code_reused`` (no code accepted twice, none refused). If the duration cut a
  thread short, the requests still in flight may have been decided unseen: the accepted count
  must then lie between the ``valid`` replies and the ``valid`` replies plus those in flight.

Appends one ``{"kind": "check", ...}`` line to RAW; the table refuses to report a failed one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from twostep.storage.tables import audit_events

__all__ = ["accepted_since", "judge"]


async def accepted_since(url: str, since: float) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            stmt = select(func.count()).where(
                audit_events.c.action == "totp.verify",
                audit_events.c.outcome == "accepted",
                audit_events.c.at >= since,
            )
            return int((await conn.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


def judge(mode: str, accepted: int, kv: dict[str, str], codes: int) -> str:
    """The reason the run breaks the exactly-once promise, or '' when it keeps it."""
    valid, reused, replies = int(kv["valid"]), int(kv["reused"]), int(kv["requests"])
    if mode == "wrong":
        return f"{accepted} wrong codes accepted in the database" if accepted else ""
    inflight = max(0, int(kv["sent"]) - replies)
    if int(kv["unfinished"]) == 0:
        expected = {"accepted in the database": accepted, "valid replies": valid}
        wrong = [f"{what} {n}" for what, n in expected.items() if n != codes]
        if reused != codes:
            wrong.append(f"code_reused replies {reused}")
        return f"{codes} codes each sent to both nodes: " + ", ".join(wrong) if wrong else ""
    if not valid <= accepted <= valid + inflight:
        return (
            f"accepted in the database {accepted}, valid replies {valid}, "
            f"{inflight} requests without a reply"
        )
    return ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["wrong", "valid"])
    parser.add_argument("conn", type=int)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--since", type=float, required=True)
    parser.add_argument("--wrk", type=Path, required=True)
    parser.add_argument("--codes", type=int, default=0)
    parser.add_argument("--raw", type=Path, required=True)
    args = parser.parse_args(argv)
    found = re.search(r"^RESULT (.*)$", args.wrk.read_text(), re.M)
    accepted = asyncio.run(accepted_since(args.database_url, args.since))
    if found is None:
        reason = "no RESULT line from wrk"
    else:
        kv = dict(pair.split("=", 1) for pair in found.group(1).split())
        reason = judge(args.mode, accepted, kv, args.codes)
    item = {
        "kind": "check",
        "mode": args.mode,
        "conn": args.conn,
        "accepted": accepted,
        "codes": args.codes,
        "ok": not reason,
        "reason": reason,
    }
    with args.raw.open("a") as f:
        f.write(json.dumps(item) + "\n")
    verdict = "exactly once: ok" if not reason else f"exactly once: FAILED: {reason}"
    print(f"  twostep-pg {args.mode} c={args.conn}: {accepted} accepted in the database; {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
