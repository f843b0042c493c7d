"""The send_code step (spec 3.11): POST the current code to the environment's webhook."""

from __future__ import annotations

from typing import ClassVar

from twostep.errors import TotpNotEnrolled
from twostep.journeys.context import StepContext
from twostep.journeys.kinds import EmptyConfig, StepKind
from twostep.journeys.steps.base import Advance, Outcome, Step
from twostep.services.audit import audit
from twostep.services.verification import current_code
from twostep.services.webhooks import deliver_code

__all__ = ["SendCodeStep"]


class SendCodeStep(Step):
    """Without a webhook, or a user with an active authenticator, it does nothing. A slow or
    failing receiver costs at most the webhook's timeout and never stops the journey."""

    # Delivery failures are logged and never block the journey (spec 3.11): no failure branch.
    spec: ClassVar[StepKind] = StepKind(
        "send_code", None, EmptyConfig, needs_next=True, may_fail=False
    )

    async def enter(self, ctx: StepContext) -> Outcome:
        webhook = ctx.config.delivery.webhook
        user = await ctx.user()
        if webhook is None or user is None or not ctx.totp_enabled:
            return Advance()
        try:
            deliverable = await current_code(ctx.rt, ctx.env, user.id, ctx.app.client_id)
        except TotpNotEnrolled:
            return Advance()
        if deliverable is None:  # every code the window accepts is spent: nothing to send
            return Advance()
        code, expires_at = deliverable
        delivery = await deliver_code(
            ctx.rt, ctx.env, webhook, user=user, code=code, expires_at=expires_at
        )
        async with ctx.rt.db.transaction() as tx:
            # A refused endpoint was never connected to: the trail must not tell the tenant
            # whether anything listens at an internal address (spec 3b.6).
            outcome = {"delivered": "ok", "refused": "refused"}.get(delivery, "failed")
            await audit(
                tx,
                ctx.rt,
                ctx.actor,
                "totp.deliver",
                outcome,
                environment_id=ctx.env.id,
                user_id=user.id,
            )
        return Advance()
