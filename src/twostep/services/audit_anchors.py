"""Anchors of the audit chains: their heads written to an append-only file, outside the
database, so that a trail cut short (its newest events deleted, head row and all) shows.

One JSON line per chain: ``{"environment": id or null, "hash": ..., "seq": n, "time": ISO}``.
Several processes and nodes may append to one file: each append is one ``write`` of whole
lines on a descriptor opened with ``O_APPEND``, so lines never interleave.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from twostep.services.runtime import Runtime
from twostep.storage.audit_chain import event_time
from twostep.storage.repositories.audit import SERVER_CHAIN
from twostep.storage.repositories.audit_chain import ChainHead, chain_heads

__all__ = ["Anchor", "AnchorFile", "anchor_periodically", "append_anchors", "read_anchors"]

_log = structlog.get_logger("twostep.audit")


@dataclass(frozen=True, slots=True)
class Anchor:
    """A chain's head as it was at ``time``; ``line`` is its line number in the file."""

    chain: str
    seq: int
    hash: str
    time: str
    line: int


@dataclass(frozen=True, slots=True)
class AnchorFile:
    """The anchors of a file by chain, and the lines that are not anchors."""

    by_chain: dict[str, list[Anchor]]
    bad_lines: list[int]


def _line(head: ChainHead, time: str) -> str:
    environment = None if head.chain == SERVER_CHAIN else head.chain
    fields = {"environment": environment, "hash": head.hash, "seq": head.seq, "time": time}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n"


async def append_anchors(rt: Runtime, path: Path, *, unless: dict[str, int] | None = None) -> int:
    """Append the head of every chain (those whose place is not in ``unless`` already);
    how many lines were written. ``unless`` is updated with what was written."""
    async with rt.db.transaction() as tx:
        heads = await chain_heads(tx)
    seen = {} if unless is None else unless
    moved = [h for h in heads if h.seq > 0 and seen.get(h.chain) != h.seq]
    if not moved:
        return 0
    time = event_time(rt.clock.now())
    data = "".join(_line(h, time) for h in moved).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    seen.update((h.chain, h.seq) for h in moved)
    return len(moved)


async def anchor_periodically(rt: Runtime) -> None:
    """While serving: anchor the chains that moved, at start and every interval (each server
    process does: a line twice is harmless). Nothing without ``audit_anchor_file``."""
    path = rt.settings.audit_anchor_file
    if path is None:
        return
    written: dict[str, int] = {}
    while True:
        try:
            await append_anchors(rt, path, unless=written)
        except Exception:  # a busy database or a full disk now is no reason to stop for good
            _log.warning("audit.anchor_failed", path=str(path), exc_info=True)
        await asyncio.sleep(rt.settings.audit_anchor_interval_s)


def _anchor(text: str, number: int) -> Anchor | None:
    try:
        fields = json.loads(text)
        environment, seq, digest, time = (
            fields["environment"],
            fields["seq"],
            fields["hash"],
            fields["time"],
        )
    except (ValueError, TypeError, KeyError):
        return None
    if not (
        (environment is None or isinstance(environment, str))
        and isinstance(seq, int)
        and isinstance(digest, str)
        and isinstance(time, str)
    ):
        return None
    return Anchor(environment or SERVER_CHAIN, seq, digest, time, number)


def read_anchors(path: Path) -> AnchorFile:
    """Every anchor of the file, by chain, read line by line."""
    by_chain: dict[str, list[Anchor]] = {}
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            anchor = _anchor(text, number)
            if anchor is None:
                bad.append(number)
            else:
                by_chain.setdefault(anchor.chain, []).append(anchor)
    return AnchorFile(by_chain, bad)
