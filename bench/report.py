"""Collect the benchmark rows (JSON lines) and print the one table, or refuse to.

python bench/report.py add-wrk RAW SERVER MODE CONN WRK_OUTPUT   (bench/verify.lua output)
python bench/report.py add-pi RAW MODE CONN SUMMARY_FILE         (the peer's bench.sh line)
python bench/report.py unavailable RAW SERVER REASON
python bench/report.py rate RAW SERVER MODE CONN --seconds S [--per P --min A --max B]
python bench/report.py table RAW --out FILE [--meta TEXT ...] [--conns "16 64"] [--sizes ...]

RAW also receives the lines of bench/login_load.py (``"kind": "login"``) and of
bench/exactly_once.py (``"kind": "check"``). ``table`` exits with status 3, and marks the
table INVALID with the reasons, when any answer was not the expected one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from login_load import LoginRun as Login

SERVERS = {
    "ceiling": "bare FastAPI ceiling",
    "twostep": "Twostep, SQLite",
    "twostep-pg": "Twostep, PostgreSQL, 2 nodes",
    "privacyidea": "privacyIDEA",
}
TWOSTEP_ROWS = ("twostep", "twostep-pg")
MODES = {"wrong": "wrong-code", "valid": "valid-code"}
# Where a row went missing, these make the run invalid (privacyIDEA is a peer: a note only).
REQUIRED = ("ceiling", "twostep", "twostep-pg", "login")
SIZE_TARGET = 1.2


def label(server: str) -> str:
    if server.startswith("size-"):
        return f"Twostep, SQLite, {int(server[5:]):,} authenticators"
    return SERVERS.get(server, server)


@dataclass
class Row:
    server: str
    mode: str
    conn: int
    replies: int = 0
    secs: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    valid: int = 0
    rejected: int = 0
    reused: int = 0
    locked: int = 0
    other: int = 0
    non2xx: int = 0
    sock_errors: int = 0
    server_cores: float = 0.0
    machine_busy_pct: float = 0.0
    other_statuses: str = ""
    first_other: str = ""
    note: str = ""

    @property
    def raced(self) -> bool:
        """Valid codes sent to both PostgreSQL nodes: one of the two answers is code_reused."""
        return self.server == "twostep-pg" and self.mode == "valid"

    @property
    def as_expected(self) -> int:
        if self.mode == "wrong":
            return self.rejected
        return self.valid + self.reused if self.raced else self.valid

    def problem(self) -> str:
        """Why this run's answers make the table invalid, or ''."""
        wrong = []
        if self.replies == 0:
            wrong.append("no replies")
        if self.as_expected != self.replies:
            wrong.append(
                f"{self.replies - self.as_expected} of {self.replies} replies not as expected"
            )
        if self.locked:
            wrong.append(f"{self.locked} answered 429")
        if self.sock_errors:
            wrong.append(f"{self.sock_errors} socket errors or timeouts")
        if not wrong:
            return ""
        first = f" (first other reply: `{self.first_other}`)" if self.first_other else ""
        return f"{label(self.server)} {MODES[self.mode]} c={self.conn}: {', '.join(wrong)}{first}"


@dataclass
class Check:
    mode: str
    conn: int
    accepted: int
    codes: int
    ok: bool
    reason: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: Path) -> Results:
        res = cls()
        if not raw.exists():
            return res
        for line in raw.read_text().splitlines():
            item: dict[str, Any] = json.loads(line)
            kind = item.pop("kind", "")
            if "unavailable" in item:
                res.missing[item["server"]] = item["unavailable"]
            elif kind == "login":
                res.logins.append(Login(**item))
            elif kind == "check":
                res.checks.append(Check(**item))
            else:
                res.rows.append(Row(**item))
        return res

    def invalid(self) -> list[str]:
        """Every reason not to report this run."""
        out = [row.problem() for row in self.rows if row.problem()]
        out += [
            f"Twostep, PostgreSQL {MODES[c.mode]} c={c.conn}: exactly once broken: {c.reason}"
            for c in self.checks
            if not c.ok
        ]
        for login in self.logins:
            if login.unexpected or not login.logins:
                out.append(
                    f"sign-ins ({login.flow}): {login.unexpected} unexpected answers, "
                    f"{login.logins} signed in; first: {login.first_unexpected}"
                )
        out += [
            f"{label(s)}: not run: {why}"
            for s, why in self.missing.items()
            if s in REQUIRED or s.startswith("size-")
        ]
        return out

    def find(self, server: str, mode: str, conn: int) -> Row | None:
        for row in self.rows:
            if (row.server, row.mode, row.conn) == (server, mode, conn):
                return row
        return None


def append(raw: Path, item: dict[str, Any]) -> None:
    with raw.open("a") as f:
        f.write(json.dumps(item) + "\n")


def parse_wrk(server: str, mode: str, conn: int, text: str) -> Row:
    """Row from the RESULT (and OTHER) lines that bench/verify.lua prints."""
    match = re.search(r"^RESULT (.*)$", text, re.M)
    if not match:
        raise ValueError(f"no RESULT line in wrk output: {text[-400:]!r}")
    kv = dict(pair.split("=", 1) for pair in match.group(1).split())
    row = Row(
        server=server,
        mode=mode,
        conn=conn,
        replies=int(kv["requests"]),
        secs=float(kv["duration_s"]),
        rps=float(kv["rps"]),
        p50_ms=float(kv["p50_ms"]),
        p99_ms=float(kv["p99_ms"]),
        valid=int(kv["valid"]),
        rejected=int(kv["rejected"]),
        reused=int(kv["reused"]),
        locked=int(kv["locked"]),
        other=int(kv["other"]),
        non2xx=int(kv["non2xx"]),
        sock_errors=sum(int(kv[k]) for k in ("err_connect", "err_read", "err_write")),
    )
    row.sock_errors += int(kv["err_timeout"])
    other = re.search(r"^OTHER statuses=(\S*) first=(.*)$", text, re.M)
    if other:
        row.other_statuses, row.first_other = other.group(1), other.group(2)[:300]
    return row


def rescale_cpu(row: Row, wall: float) -> None:
    """Refer CPU readings taken over ``wall`` seconds to the run's active ``secs``.

    wrk always lasts its full -d; a run that used up its prepared codes earlier left the
    server idle for the rest, so its CPU time belongs to the active part. The machine share
    is then an estimate (other processes kept running in the idle tail).
    """
    if wall <= 0 or row.secs <= 0 or row.secs >= 0.95 * wall:
        return
    row.server_cores = round(row.server_cores * wall / row.secs, 2)
    row.machine_busy_pct = min(100.0, round(row.machine_busy_pct * wall / row.secs))
    row.note = "cpu-rescaled"


PI_LINE = re.compile(
    r"c=(?P<conn>\d+): (?P<rps>[\d.]+) req/s p50 (?P<p50>[\d.]+) ms p99 (?P<p99>[\d.]+) ms .*?"
    r"accept (?P<accept>\d+) reject (?P<reject>\d+) non200 (?P<non200>\d+) "
    r"errs c/r/w/t (?P<errs>[\d/]+); server (?P<cores>[\d.]+) cores.*?"
    r"machine busy (?P<busy>[\d.]+)%.*, (?P<secs>[\d.]+)s\)"
)


def parse_pi(mode: str, conn: int, text: str) -> Row:
    """Row from the summary line of the privacyIDEA peer's bench.sh."""
    match = PI_LINE.search(text)
    if not match:
        raise ValueError(f"no summary line in privacyIDEA bench output: {text[-400:]!r}")
    g = match.groupdict()
    accept, reject, non200 = int(g["accept"]), int(g["reject"]), int(g["non200"])
    return Row(
        server="privacyidea",
        mode=mode,
        conn=conn,
        replies=accept + reject + non200,
        secs=float(g["secs"]),
        rps=float(g["rps"]),
        p50_ms=float(g["p50"]),
        p99_ms=float(g["p99"]),
        valid=accept,
        rejected=reject,
        other=non200,
        non2xx=non200,
        sock_errors=sum(int(x) for x in g["errs"].split("/")),
        server_cores=float(g["cores"]),
        machine_busy_pct=float(g["busy"]),
    )


def ratio(a: Row | None, b: Row | None) -> str:
    if a is None or b is None or b.rps <= 0:
        return "—"
    return f"{a.rps / b.rps:.2f}" if a.rps / b.rps < 10 else f"{a.rps / b.rps:.0f}"


def per_core_ratio(a: Row | None, b: Row | None) -> str:
    """``ratio`` of req/s per server core: the machine's 2 cores are shared with wrk, and a
    server whose workers got unequal shares of the connections ran on fewer cores."""
    if a is None or b is None or a.server_cores <= 0 or b.server_cores <= 0 or b.rps <= 0:
        return "—"
    value = (a.rps / a.server_cores) / (b.rps / b.server_cores)
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def table(res: Results, conns: list[int]) -> list[str]:
    """Markdown table, grouped by (mode, connections) so the three servers sit together."""
    lines = [
        "| mode | conn | server | req/s | p50 ms | p99 ms | replies | as expected "
        "| 429 | non-2xx | sock err | server cores | machine busy "
        "| Twostep/privacyIDEA | Twostep/ceiling | Twostep/ceiling per core |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        for conn in conns:
            for server, name in SERVERS.items():
                row = res.find(server, mode, conn)
                head = f"| {MODES[mode]} | {conn} | {name} |"
                if row is None:
                    why = "not available" if server in res.missing else "not run"
                    lines.append(head + f" {why} |" + " |" * 12)
                    continue
                approx = "≤ " if row.note == "cpu-rescaled" else ""
                pi = res.find("privacyidea", mode, conn)
                ceil = res.find("ceiling", mode, conn)
                ratios = (
                    f" {ratio(row, pi)} | {ratio(row, ceil)} | {per_core_ratio(row, ceil)} |"
                    if server in TWOSTEP_ROWS
                    else " | | |"
                )
                lines.append(
                    head
                    + f" {fmt(row.rps)} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {row.replies}"
                    + f" | {row.as_expected} | {row.locked} | {row.non2xx} | {row.sock_errors}"
                    + f" | {row.server_cores:.2f} | {approx}{row.machine_busy_pct:.0f} % |"
                    + ratios
                )
    return lines


def notes(res: Results, duration: float) -> list[str]:
    out = [f"- {label(s)}: not available ({why})" for s, why in res.missing.items()]
    for row in res.rows:
        if duration and row.secs < 0.9 * duration and row.mode == "valid":
            out.append(
                f"- {label(row.server)} {MODES[row.mode]} c={row.conn}: the prepared fresh "
                f"codes ({row.replies} replies) were used up after {row.secs:.1f} s"
            )
    out += [
        f"- Twostep, PostgreSQL {MODES[c.mode]} c={c.conn}: {c.accepted} codes accepted in "
        f"the database{f' of {c.codes} raced across the nodes' if c.codes else ''}: "
        + ("exactly once" if c.ok else f"FAILED ({c.reason})")
        for c in res.checks
    ]
    return out


def login_table(res: Results) -> list[str]:
    if not res.logins and "login" not in res.missing:
        return []
    lines = [
        "",
        "## Sign-ins (password + code), SQLite, 2 workers",
        "",
        "| flow | driver | conn | sign-ins/s | p50 ms | p99 ms | signed in | unexpected "
        "| server cores | sign-ins/s per core | password hash |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    flows = {
        "journey": "journey API (start, password, code)",
        "pages": "hosted sign-in page (form + CSRF)",
    }
    for login in res.logins:
        lines.append(
            f"| {flows.get(login.flow, login.flow)} | {login.driver} | {login.conn} "
            f"| {login.rate:.1f} | {login.p50_ms:.0f} | {login.p99_ms:.0f} | {login.logins} "
            f"| {login.unexpected} | {login.server_cores:.2f} | {login.per_core:.1f} "
            f"| {login.argon2} |"
        )
    if "login" in res.missing:
        lines.append(f"| not available: {res.missing['login']} |" + " |" * 10)
    return lines


def size_table(res: Results, sizes: list[int]) -> list[str]:
    rows = [(n, res.find(f"size-{n}", "wrong", 16)) for n in sizes]
    if not sizes:
        return []
    lines = [
        "",
        "## Flat with size: wrong codes at 16 connections, SQLite, 2 workers",
        "",
        f"| authenticators | req/s | p50 ms | p99 ms | replies | as expected "
        f"| p50 / smallest | p99 / smallest (target ≤ {SIZE_TARGET}) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = rows[0][1]
    for n, row in rows:
        if row is None:
            lines.append(f"| {n:,} | not run |" + " |" * 6)
            continue
        p50 = f"{row.p50_ms / base.p50_ms:.2f}" if base and base.p50_ms else "—"
        p99 = f"{row.p99_ms / base.p99_ms:.2f}" if base and base.p99_ms else "—"
        lines.append(
            f"| {n:,} | {fmt(row.rps)} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {row.replies} "
            f"| {row.as_expected} | {p50} | {p99} |"
        )
    return lines


LEGEND = [
    "",
    "- req/s: replies counted / seconds from the first request to the last counted reply.",
    "- as expected: wrong-code runs count rejections (Twostep: 400 `invalid_code`, ceiling: "
    '200 `{"valid": false}`, privacyIDEA: 200 REJECT); valid-code runs count acceptances; '
    "on the two PostgreSQL nodes every valid code is sent to both nodes at once (one wrk "
    "thread per node), so one answer is 200 valid and the other 400 `code_reused`: both count.",
    "- 429: Twostep lockouts (fast path, the code is not evaluated); non-2xx includes "
    "Twostep's 400 answers to wrong codes; sock err: wrk connect/read/write errors + timeouts.",
    "- server cores: CPU time of the server's processes (both nodes on PostgreSQL; not the "
    "database's) / wall time of the run; machine busy: share of both cores in use (wrk, "
    "PostgreSQL and anything else on the machine included); for a run that ended early both "
    "refer to its active part (≤: an upper bound).",
    "- ratios: req/s of that Twostep row divided by req/s of the other server in the same "
    "mode and connection count; per core: the same with each server's req/s divided by its "
    "server cores (wrk shares the cores, and uvicorn's workers do not always share the "
    "connections evenly: a server that ran on one core of two is slower for that alone).",
    "- sign-ins: whole sign-ins with the right password and a fresh code, each by a user not "
    "signed in before in the run; sign-ins/s per core = sign-ins/s / server cores (argon2id "
    "runs in a worker thread of the server process).",
]


def cmd_table(
    raw: Path, out: Path, meta: list[str], conns: list[int], duration: float, sizes: list[int]
) -> bool:
    """Print and write the table; False when the run must not be reported."""
    res = Results.load(raw)
    found = sorted({r.conn for r in res.rows if not r.server.startswith("size-")})
    body = table(res, conns or found or [16, 64])
    extra = notes(res, duration)
    invalid = res.invalid()
    text = [*(f"{m}  " for m in meta), ""]
    if invalid:
        text += ["**INVALID: this run does not count.** Answers that were not the expected ones:"]
        text += [f"- {why}" for why in invalid] + [""]
    text += ["## Code checks", "", *body, *login_table(res), *size_table(res, sizes), *LEGEND]
    if extra:
        text += ["", "Notes:", *extra]
    rendered = "\n".join(text) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    title = "# Twostep benchmark" + (" — INVALID" if invalid else "")
    out.write_text(f"{title}\n\n{rendered}")
    print(f"{title}\n\n{rendered}", end="")
    print(f"(written to {out})")
    return not invalid


def rate(raw: Path, server: str, mode: str, conn: int, seconds: float, per: float) -> float:
    """How many requests of that earlier run ``seconds`` hold, divided by ``per``; 0 if none."""
    row = Results.load(raw).find(server, mode, conn)
    return 0.0 if row is None else row.rps * seconds / per


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("add-wrk")
    w.add_argument("raw", type=Path)
    w.add_argument("server")
    w.add_argument("mode", choices=list(MODES))
    w.add_argument("conn", type=int)
    w.add_argument("output", type=Path)
    w.add_argument("--server-cores", type=float, default=0.0)
    w.add_argument("--machine-busy", type=float, default=0.0)
    w.add_argument("--wall", type=float, default=0.0, help="seconds the CPU readings span")
    p = sub.add_parser("add-pi")
    p.add_argument("raw", type=Path)
    p.add_argument("mode", choices=list(MODES))
    p.add_argument("conn", type=int)
    p.add_argument("output", type=Path)
    u = sub.add_parser("unavailable")
    u.add_argument("raw", type=Path)
    u.add_argument("server")
    u.add_argument("reason")
    r = sub.add_parser("rate")
    r.add_argument("raw", type=Path)
    r.add_argument("server")
    r.add_argument("mode", choices=list(MODES))
    r.add_argument("conn", type=int)
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--per", type=float, default=1.0)
    r.add_argument("--min", type=int, default=1)
    r.add_argument("--max", type=int, default=10**9)
    t = sub.add_parser("table")
    t.add_argument("raw", type=Path)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--meta", action="append", default=[])
    t.add_argument("--conns", default="")
    t.add_argument("--sizes", default="")
    t.add_argument("--duration", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        if args.command == "add-wrk":
            row = parse_wrk(args.server, args.mode, args.conn, args.output.read_text())
            row.server_cores, row.machine_busy_pct = args.server_cores, args.machine_busy
            rescale_cpu(row, args.wall)
            append(args.raw, asdict(row))
        elif args.command == "add-pi":
            append(args.raw, asdict(parse_pi(args.mode, args.conn, args.output.read_text())))
        elif args.command == "unavailable":
            append(args.raw, {"server": args.server, "unavailable": args.reason.strip()})
        elif args.command == "rate":
            n = rate(args.raw, args.server, args.mode, args.conn, args.seconds, args.per)
            print(max(args.min, min(args.max, int(n))))
        else:
            conns = [int(c) for c in args.conns.split()]
            sizes = [int(n) for n in args.sizes.split()]
            if not cmd_table(args.raw, args.out, args.meta, conns, args.duration, sizes):
                return 3
    except (OSError, ValueError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
