"""Prometheus counters of what the services decide, the clock skew gauge, and their exposition.

One worker process keeps its samples in memory. Several workers (``TWOSTEP_WORKERS>1``) use
prometheus-client's multiprocess mode: each writes its samples to files in one directory
(``PROMETHEUS_MULTIPROC_DIR``) and whichever worker answers a scrape adds them all up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, multiprocess

__all__ = [
    "CLOCK_SKEW",
    "CODE_CHECKS",
    "JOURNEY_ENDS",
    "MULTIPROC_ENV",
    "RECOVERY_USES",
    "exposition",
    "mark_worker_exit",
    "multiprocess_dir",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

CODE_CHECKS = Counter(
    "twostep_totp_checks", "TOTP codes checked, by operation and outcome", ["operation", "outcome"]
)
RECOVERY_USES = Counter(
    "twostep_recovery_code_uses", "Recovery codes tried, by outcome", ["outcome"]
)
JOURNEY_ENDS = Counter(
    "twostep_journey_ends",
    'Journeys that ended, by journey (a built-in name or "custom") and outcome',
    ["journey", "outcome"],
)
# Every worker of a node measures the one clock of its machine, so their readings agree: the
# freshest one of a live worker is the node's (a sum would count the skew once per worker). A
# worker that has not measured yet does not count: its sample has no time, and is left out.
CLOCK_SKEW = Gauge(
    "twostep_clock_skew_seconds",
    "This node's clock minus the database server's (negative: behind); NaN when not measured "
    "(SQLite: one machine, nothing to compare)",
    multiprocess_mode="livemostrecent",
)


@contextmanager
def multiprocess_dir(workers: int) -> Iterator[Path | None]:
    """A fresh directory for the samples of ``workers`` processes, removed when they are done.

    It must be in the environment before the workers start: prometheus-client chooses where a
    process keeps its samples when it is imported. One worker needs none (samples stay in
    memory, as they always did); a directory the operator names already is used as it is.
    """
    named = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 or named:
        yield Path(named) if named else None
        return
    path = Path(tempfile.mkdtemp(prefix="twostep-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def exposition() -> bytes:
    """The text format of every sample: this process's, or all workers' in multiprocess mode."""
    if not os.environ.get(MULTIPROC_ENV):
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def mark_worker_exit() -> None:
    """A stopping worker's live gauges leave the sum (its counters stay: they happened)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
