"""Decide inside a transaction, raise after it commits: the one way services refuse a guess.

A refused code, password or recovery code still changes the store: a failure counted, a lock
set, an audit row written. Raising inside ``rt.db.transaction()`` would roll all of that back,
so a service builds a ``Decision`` inside the block (the audit outcome and, when refused, the
error, not raised) and calls ``raise_refusal()`` once the block has committed::

    async with rt.db.transaction() as tx:
        decision = await _judge(tx, ...)
        await audit(tx, rt, actor, "recovery.use", decision.outcome, ...)
    METRIC.labels(decision.outcome).inc()
    decision.raise_refusal()
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Decision", "accepted", "refused"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a transaction decided: the outcome it audits, and the error that answers a refusal
    (None when the attempt goes through), raised only after the commit."""

    outcome: str
    refusal: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the attempt goes through (nothing to raise)."""
        return self.refusal is None

    def raise_refusal(self) -> None:
        """Raise the refusal, if any: call it after the transaction that decided has committed."""
        if self.refusal is not None:
            raise self.refusal


def accepted(outcome: str = "ok") -> Decision:
    """An attempt that goes through, audited as ``outcome``."""
    return Decision(outcome)


def refused(outcome: str, error: Exception) -> Decision:
    """An attempt answered with ``error`` once its transaction (counters, audit) has committed."""
    return Decision(outcome, error)
