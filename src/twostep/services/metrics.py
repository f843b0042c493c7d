"""Prometheus counters of what the services decide (per process; scrape every worker)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["CODE_CHECKS", "JOURNEY_ENDS", "RECOVERY_USES"]

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
