"""Clock drift: what the last accepted codes say about an authenticator's clock.

Each accepted code is `offset` steps from the server's current step. When the last
`AGREEING` offsets are all the same, the window centre moves there, bounded so that the
window never widens: at most `valid_past_tokens` back and `valid_future_tokens` forward.
"""

from dataclasses import dataclass

__all__ = ["AGREEING", "Drift", "bounded_centre", "learn_drift"]

AGREEING = 3


@dataclass(frozen=True, slots=True)
class Drift:
    """The learned centre offset in steps and the offsets of the last accepted codes."""

    steps: int = 0
    recent: tuple[int, ...] = ()

    def encoded(self) -> str:
        """The recent offsets as stored: comma-separated, oldest first."""
        return ",".join(str(offset) for offset in self.recent)

    @classmethod
    def decoded(cls, steps: int, recent: str) -> "Drift":
        return cls(steps, tuple(int(part) for part in recent.split(",") if part))


def bounded_centre(steps: int, *, valid_past_tokens: int, valid_future_tokens: int) -> int:
    """`steps` held to what the window allows: never more than its own edges away."""
    return max(-valid_past_tokens, min(valid_future_tokens, steps))


def learn_drift(
    drift: Drift, offset: int, *, valid_past_tokens: int, valid_future_tokens: int
) -> Drift:
    """`drift` after one more accepted code at `offset` steps from the server's step."""
    recent = (*drift.recent, offset)[-AGREEING:]
    steps = drift.steps
    if len(recent) == AGREEING and len(set(recent)) == 1:
        steps = bounded_centre(
            offset, valid_past_tokens=valid_past_tokens, valid_future_tokens=valid_future_tokens
        )
    return Drift(steps, recent)
