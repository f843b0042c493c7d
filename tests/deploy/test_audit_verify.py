"""``twostep audit verify`` against a trail someone with database access changed: an edited,
a deleted and a reordered event, a tail truncated and a chain recomputed after an edit (both
behind the anchors the server wrote) are each found and named; an untouched trail passes."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.server import Server, new_organization, running_server
from twostep.storage.audit_chain import event_body, link_hash

ORGS = ("clean", "edited", "deleted", "reordered", "truncated", "rewritten")
USERS = 4  # each production chain: organization.create, then a user.create per user


def _wait_for_anchors(path: Path, chains: int) -> None:
    """The server anchors at start and then every second: until every chain's head is in."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            heads = {(a["environment"], a["seq"]) for a in lines}
            if len({env for env, seq in heads if seq == USERS + 1}) >= chains:
                return
        time.sleep(0.2)
    raise AssertionError(f"no anchors of every chain in {path}")


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Server, dict[str, str]]:
    """A server's trail, anchored by the server, then changed in its database file (stopped)."""
    data = tmp_path_factory.mktemp("audit-verify")
    anchors = data / "anchors.jsonl"
    extra = {"TWOSTEP_AUDIT_ANCHOR_FILE": str(anchors), "TWOSTEP_AUDIT_ANCHOR_INTERVAL_S": "1"}
    with running_server(data, **extra) as server:
        for domain in ORGS:
            api, _ = new_organization(server, domain)
            with closing(api):
                for _ in range(USERS):
                    api.create_user()
        _wait_for_anchors(anchors, len(ORGS))
    with closing(sqlite3.connect(data / "twostep.db")) as db, db:
        environments = _tamper(db)
    return server, environments


def _tamper(db: sqlite3.Connection) -> dict[str, str]:
    """Change one chain per organization; the production environments' ids, by domain."""
    ids = dict(
        db.execute(
            "SELECT o.domain, e.id FROM environments e JOIN organizations o "
            "ON o.id = e.organization_id WHERE e.name = 'production'"
        ).fetchall()
    )
    at = "environment_id = ?"
    db.execute(
        f"UPDATE audit_events SET outcome = 'denied' WHERE {at} AND seq = 3", (ids["edited"],)
    )
    db.execute(f"DELETE FROM audit_events WHERE {at} AND seq = 3", (ids["deleted"],))
    for old, new in ((2, -2), (3, 2), (-2, 3)):  # two events swap places
        db.execute(
            f"UPDATE audit_events SET seq = ? WHERE {at} AND seq = ?", (new, ids["reordered"], old)
        )
    # Truncated with care: the last two events gone, and the head row moved back to match.
    db.execute(f"DELETE FROM audit_events WHERE {at} AND seq > 3", (ids["truncated"],))
    db.execute(
        "UPDATE audit_heads SET seq = 3, hash = (SELECT hash FROM audit_events WHERE "
        f"{at} AND seq = 3) WHERE chain = ?",
        (ids["truncated"], ids["truncated"]),
    )
    _rewrite(db, ids["rewritten"])
    return ids


def _rewrite(db: sqlite3.Connection, environment_id: str) -> None:
    """Edit an event, then recompute every hash after it and the head: the links all hold."""
    db.execute(
        "UPDATE audit_events SET actor = 'nobody' WHERE environment_id = ? AND seq = 2",
        (environment_id,),
    )
    rows = db.execute(
        "SELECT id, at, actor, action, user_id, outcome, ip, details, prev_hash FROM audit_events "
        "WHERE environment_id = ? ORDER BY seq",
        (environment_id,),
    ).fetchall()
    prev = rows[0][-1]
    for row_id, at, actor, action, user_id, outcome, ip, details, _ in rows:
        body = event_body(
            at=at,
            actor=actor,
            action=action,
            user_id=user_id,
            outcome=outcome,
            ip=ip,
            details=json.loads(details) if details else None,
        )
        digest = link_hash(prev, body)
        db.execute(
            "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row_id)
        )
        prev = digest
    db.execute("UPDATE audit_heads SET hash = ? WHERE chain = ?", (prev, environment_id))


def test_verify_names_each_break(tampered: tuple[Server, dict[str, str]]) -> None:
    server, _ = tampered
    verified = server.cli("audit", "verify", check=False)
    assert verified.returncode == 1, verified.stderr
    lines = {line.split(":")[0]: line for line in verified.stdout.splitlines()}
    assert lines["clean/production"].startswith("clean/production: ok: 5 events, seq 1 to 5")
    assert "anchors matched" in lines["clean/production"]
    assert lines["clean/sandbox"].startswith("clean/sandbox: ok: 1 events")
    assert " BROKEN at seq 3 (id " in lines["edited/production"]
    assert "): edited: its content does not match its hash" in lines["edited/production"]
    assert lines["deleted/production"].endswith(
        "BROKEN at seq 3 (missing): deleted: seq 3 missing in the chain"
    )
    assert "BROKEN at seq 2 (id " in lines["reordered/production"]
    assert (
        "reordered: it follows the event at seq 3, not the one at seq 1"
        in lines["reordered/production"]
    )
    assert (
        "BROKEN at seq 4 (missing): truncated: the chain ends at seq 3; the anchor of "
        in lines["truncated/production"]
    )
    assert "says it reached seq 5" in lines["truncated/production"]
    # Every link holds after the rewrite: only the anchors (the last at seq 5) tell.
    assert "rewritten: not the event anchored at " in lines["rewritten/production"]
    broken = [name for name, line in lines.items() if "BROKEN" in line]
    assert sorted(broken) == sorted(f"{o}/production" for o in ORGS if o != "clean")


def test_an_untouched_chain_passes_and_answers_json(
    tampered: tuple[Server, dict[str, str]],
) -> None:
    server, environments = tampered
    verified = server.cli("audit", "verify", "--org", "clean", "--json", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["chain"] == environments["clean"]
    assert (report["ok"], report["events"], report["last_seq"], report["break"]) == (
        True,
        USERS + 1,
        USERS + 1,
        None,
    )
    assert report["anchors_checked"] >= 1
