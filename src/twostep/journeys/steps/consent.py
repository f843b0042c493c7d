"""The consent step: a third-party application asks the user's leave (``Consent``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from twostep.errors import AccessDenied, ValidationFailed
from twostep.i18n import translate
from twostep.journeys.context import StepContext, StepError
from twostep.journeys.kinds import EmptyConfig, FormValues, PageSpec, StepKind
from twostep.journeys.steps.base import Advance, Fail, Outcome, Step

__all__ = ["ANSWER_CONSENT", "SCOPE_TEXTS", "ConsentStep"]

ANSWER_CONSENT = "Allow or deny the application."

# What a consent page says each OpenID scope lets the application read.
SCOPE_TEXTS = {
    "openid": "Who you are (your account id)",
    "email": "Your email address",
    "profile": "Your username",
    "phone": "Your phone number",
    "offline_access": "Keep you signed in (refresh tokens)",
}


def _approval(form: FormValues) -> dict[str, Any]:
    return {"approve": form["approve"] == "yes"}


def _scope_texts(payload: Mapping[str, Any], locale: str) -> dict[str, Any]:
    return {"scope_texts": {name: translate(locale, text) for name, text in SCOPE_TEXTS.items()}}


class ConsentStep(Step):
    """Shows the application and the scopes it asks for; ``{"approve": true}`` goes on,
    ``{"approve": false}`` takes the failure branch (``access_denied``)."""

    # A third-party application asks the user's leave (OAuth): approve goes on, deny fails.
    spec: ClassVar[StepKind] = StepKind(
        "consent",
        "Consent",
        EmptyConfig,
        needs_next=True,
        may_fail=True,
        page=PageSpec({"approve": 10}, _approval, _scope_texts),
    )

    async def payload(self, ctx: StepContext) -> dict[str, Any]:
        request = ctx.state.authorization
        scopes = request.scope.split() if request is not None else []
        return {"client_id": ctx.app.client_id, "client_name": ctx.app.name, "scopes": scopes}

    async def submit(self, ctx: StepContext) -> Outcome:
        approve = ctx.input.get("approve")
        if approve is True:
            return Advance()
        if approve is False:
            return Fail(StepError.of(AccessDenied()))
        return await self.ask_again(ctx, StepError.of(ValidationFailed(ANSWER_CONSENT)))
