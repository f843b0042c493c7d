"""Collect the benchmark rows (JSON lines) and print the one comparison table.

python bench/report.py add-wrk RAW SERVER MODE CONN WRK_OUTPUT   (bench/verify.lua output)
python bench/report.py add-pi RAW MODE CONN SUMMARY_FILE         (the peer's bench.sh line)
python bench/report.py unavailable RAW SERVER REASON
python bench/report.py table RAW --out FILE [--meta TEXT ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SERVERS = {"ceiling": "bare FastAPI ceiling", "twostep": "Twostep", "privacyidea": "privacyIDEA"}
MODES = {"wrong": "wrong-code", "valid": "valid-code"}


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
    def as_expected(self) -> int:
        return self.valid if self.mode == "valid" else self.rejected


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: Path) -> Results:
        res = cls()
        if not raw.exists():
            return res
        for line in raw.read_text().splitlines():
            item: dict[str, Any] = json.loads(line)
            if "unavailable" in item:
                res.missing[item["server"]] = item["unavailable"]
            else:
                res.rows.append(Row(**item))
        return res

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


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def table(res: Results, conns: list[int]) -> list[str]:
    """Markdown table, grouped by (mode, connections) so the three servers sit together."""
    lines = [
        "| mode | conn | server | req/s | p50 ms | p99 ms | replies | as expected "
        "| 429 | non-2xx | sock err | server cores | machine busy "
        "| Twostep/privacyIDEA | Twostep/ceiling |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        for conn in conns:
            for server, label in SERVERS.items():
                row = res.find(server, mode, conn)
                head = f"| {MODES[mode]} | {conn} | {label} |"
                if row is None:
                    why = "not available" if server in res.missing else "not run"
                    lines.append(head + f" {why} |" + " |" * 11)
                    continue
                approx = "≤ " if row.note == "cpu-rescaled" else ""
                ts = res.find("twostep", mode, conn)
                pi = res.find("privacyidea", mode, conn)
                ceil = res.find("ceiling", mode, conn)
                ratios = (
                    f" {ratio(ts, pi)} | {ratio(ts, ceil)} |" if server == "twostep" else " | |"
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
    out = [f"- {SERVERS[s]}: not available ({why})" for s, why in res.missing.items()]
    for row in res.rows:
        if duration and row.secs < 0.9 * duration and row.mode == "valid":
            out.append(
                f"- {SERVERS[row.server]} {MODES[row.mode]} c={row.conn}: the prepared fresh "
                f"codes ({row.replies}) were used up after {row.secs:.1f} s of {duration:.0f} s"
            )
        odd = row.replies - row.as_expected - row.locked
        if odd > 0:
            parts = [
                f"{n} {what}"
                for n, what in (
                    (row.valid if row.mode == "wrong" else row.rejected, "wrongly answered"),
                    (row.reused, "code_reused"),
                    (row.other, f"other ({row.other_statuses or 'non-200'})"),
                )
                if n
            ]
            first = f"; first other reply: `{row.first_other}`" if row.first_other else ""
            out.append(
                f"- {SERVERS[row.server]} {MODES[row.mode]} c={row.conn}: "
                f"{odd} replies not as expected: {', '.join(parts)}{first}"
            )
    return out


LEGEND = [
    "",
    "- req/s: replies counted / seconds from the first request to the last counted reply.",
    "- as expected: wrong-code runs count rejections (Twostep: 400 `invalid_code`, ceiling: "
    '200 `{"valid": false}`, privacyIDEA: 200 REJECT); valid-code runs count acceptances.',
    "- 429: Twostep lockouts (fast path, the code is not evaluated); non-2xx includes "
    "Twostep's 400 answers to wrong codes; sock err: wrk connect/read/write errors + timeouts.",
    "- server cores: CPU time of the server's processes / wall time of the run; machine "
    "busy: share of both cores in use (wrk and anything else on the machine included); "
    "for a run that ended early both refer to its active part (≤: an upper bound).",
    "- ratios: req/s of Twostep divided by req/s of the other server in the same mode and "
    "connection count.",
]


def cmd_table(raw: Path, out: Path, meta: list[str], conns: list[int], duration: float) -> None:
    res = Results.load(raw)
    found = sorted({r.conn for r in res.rows})
    body = table(res, conns or found or [16, 64])
    extra = notes(res, duration)
    text = [*(f"{m}  " for m in meta), "", *body, *LEGEND]
    if extra:
        text += ["", "Notes:", *extra]
    rendered = "\n".join(text) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Twostep benchmark\n\n" + rendered)
    print(rendered, end="")
    print(f"(written to {out})")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("add-wrk")
    w.add_argument("raw", type=Path)
    w.add_argument("server", choices=list(SERVERS))
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
    u.add_argument("server", choices=list(SERVERS))
    u.add_argument("reason")
    t = sub.add_parser("table")
    t.add_argument("raw", type=Path)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--meta", action="append", default=[])
    t.add_argument("--conns", default="")
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
        else:
            conns = [int(c) for c in args.conns.split()]
            cmd_table(args.raw, args.out, args.meta, conns, args.duration)
    except (OSError, ValueError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
