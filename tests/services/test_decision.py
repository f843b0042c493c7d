"""Decide inside the transaction, raise after commit."""

from __future__ import annotations

import pytest

from twostep.errors import InvalidCode, LockedOut
from twostep.services.decision import accepted, refused
from twostep.services.verification import Outcome, Verdict


def test_an_accepted_decision_raises_nothing() -> None:
    decision = accepted()
    assert (decision.outcome, decision.ok) == ("ok", True)
    decision.raise_refusal()


def test_a_refusal_is_raised_only_when_asked() -> None:
    decision = refused("invalid", InvalidCode())
    assert not decision.ok
    with pytest.raises(InvalidCode):
        decision.raise_refusal()


@pytest.mark.parametrize(
    ("verdict", "error"),
    [
        (Verdict(Outcome.ACCEPTED, step=3), None),
        (Verdict(Outcome.INVALID), InvalidCode),
        (Verdict(Outcome.LOCKED, 30), LockedOut),
        (Verdict(Outcome.SUSPENDED, 900), LockedOut),
    ],
)
def test_a_verdict_is_a_decision(verdict: Verdict, error: type[Exception] | None) -> None:
    decision = verdict.decision()
    assert decision.outcome == verdict.outcome.value
    if error is None:
        assert decision.ok
    else:
        assert isinstance(decision.refusal, error)
        retry_after = getattr(decision.refusal, "retry_after", None)
        assert retry_after == (verdict.retry_after or None)
