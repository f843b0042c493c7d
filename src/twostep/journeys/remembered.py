"""Remembered devices in a sign-in journey (issue 12.2): when a browser the user trusted may
stand in for the code, and remembering one after a code.

The journey's input carries, from the hosted pages (or a journey API client that keeps its
own device tokens): ``remembered_device``, the token of a browser remembered before;
``remember_device`` (true), the person ticked "Trust this browser"; ``device_token``, the fresh
token (43 URL-safe characters, 256 random bits) to remember it under; ``device_agent``, the
browser's ``User-Agent``, of which only the family and system are kept.
"""

from __future__ import annotations

from typing import Final

from twostep.journeys.context import StepContext
from twostep.services import devices
from twostep.services.factors import DEVICE_METHOD

__all__ = ["DEVICE_INPUTS", "offered_days", "remember_after_code", "skip_with_device"]

DEVICE_INPUTS: Final = ("remembered_device", "remember_device", "device_token", "device_agent")


def _stepping_up(ctx: StepContext) -> bool:
    """A fresh code is what the sign-in asks for: an OAuth step-up, an mfa ``acr`` or a
    ``max_age`` re-authentication. A remembered device never answers these."""
    vars = ctx.state.vars
    return bool(
        vars.get("step_up")
        or vars.get("require_mfa")
        or vars.get("reauthenticate_after") is not None
    )


def offered_days(ctx: StepContext) -> int:
    """How many days the page may offer to trust the browser for (0: no offer)."""
    if ctx.state.registered is not None or _stepping_up(ctx):
        return 0
    return devices.remember_days(ctx.env)


async def skip_with_device(ctx: StepContext) -> bool:
    """Whether the browser is one the user trusted (then the sign-in's amr gets ``device``)."""
    token = ctx.input.get("remembered_device")
    ctx.consume("remembered_device")
    if ctx.state.user_id is None or offered_days(ctx) <= 0 or not isinstance(token, str):
        return False
    if not await devices.recognize_device(ctx.rt, ctx.env, ctx.state.user_id, token):
        return False
    ctx.state.authenticated_with(DEVICE_METHOD, ctx.now)
    return True


async def remember_after_code(ctx: StepContext, offered: int) -> None:
    """After a good code: remember the browser when the person asked and the page offered
    (``offered``: what ``offered_days`` said before the code)."""
    wanted = ctx.input.get("remember_device") is True
    token, agent = ctx.input.get("device_token"), ctx.input.get("device_agent")
    ctx.consume(*DEVICE_INPUTS)
    if not wanted or ctx.state.user_id is None or offered <= 0:
        return
    if isinstance(token, str):
        await devices.remember_device(
            ctx.rt,
            ctx.actor,
            ctx.env,
            ctx.state.user_id,
            token,
            agent if isinstance(agent, str) else "",
        )
