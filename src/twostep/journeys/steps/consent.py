"""The consent step: a third-party application asks the user's leave (``Consent``)."""

from __future__ import annotations

from typing import Any, ClassVar

from twostep.errors import AccessDenied, ValidationFailed
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.steps.base import Advance, Fail, Outcome, Step

__all__ = ["ConsentStep"]

ANSWER_CONSENT = "Allow or deny the application."


class ConsentStep(Step):
    """Shows the application and the scopes it asks for; ``{"approve": true}`` goes on,
    ``{"approve": false}`` takes the failure branch (``access_denied``)."""

    kind: ClassVar[str] = "consent"

    async def payload(self, ctx: StepContext) -> dict[str, Any]:
        request = ctx.state.oauth or {}
        scopes = str(request.get("scope") or "").split()
        return {"client_id": ctx.app.client_id, "client_name": ctx.app.name, "scopes": scopes}

    async def submit(self, ctx: StepContext) -> Outcome:
        approve = ctx.input.get("approve")
        if approve is True:
            return Advance()
        if approve is False:
            return Fail(StepError.of(AccessDenied()))
        return await self.ask_again(ctx, StepError.of(ValidationFailed(ANSWER_CONSENT)))
