"""The journey runner: start a journey, take a client's answer, and advance through server-side
steps until a client-facing one pauses or the journey ends.

Between requests a journey is a row (``journey_sessions``): its state as JSON, an expiry and a
sequence number. A submit first claims the row (the sequence it read, and a lease while it
works), so of two concurrent submits one works and the other gets ``conflict``; the next state
is stored under the claimed sequence. Any server process sharing the database can take the
next submit.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from twostep.crypto import same_token
from twostep.errors import (
    AccessDenied,
    AccountLocked,
    Conflict,
    Forbidden,
    JourneyExpired,
    NotFound,
    OperationDisabled,
    TwostepError,
)
from twostep.journeys.catalog import get_journey, get_journey_version, metric_label
from twostep.journeys.context import JourneyState, StepContext, StepError, unseal
from twostep.journeys.definition import JourneyDefinition
from twostep.journeys.steps import REGISTRY, Step
from twostep.journeys.steps.base import (
    Advance,
    Fail,
    Finish,
    Outcome,
    Pause,
    Reject,
    SessionIssued,
)
from twostep.oauth.signin import AuthorizationRequest, CodeIssued, ReturnTo
from twostep.services.audit import audit
from twostep.services.events import EventType, emit
from twostep.services.metrics import JOURNEY_ENDS
from twostep.services.runtime import Actor, Runtime, totp_enabled
from twostep.storage.repositories import journeys as repo
from twostep.storage.repositories import sessions
from twostep.storage.repositories.applications import ApplicationRecord, application_by_client_id
from twostep.storage.repositories.devices import delete_expired_devices
from twostep.storage.repositories.journeys import JourneySession, JourneyStatus, StoredJourney
from twostep.storage.repositories.organizations import EnvironmentRecord, get_environment_by_id

__all__ = [
    "BUSY",
    "CLAIM_LEASE_S",
    "MAX_HOPS",
    "STALE_FORM",
    "Answer",
    "CompiledJourney",
    "Rejection",
    "SignedIn",
    "StepAnswer",
    "Success",
    "current_step",
    "purge_expired",
    "start_journey",
    "submit_answer",
]

BUSY = "This login session is answering another request. Try again."
STALE_FORM = "This form is out of date. Please try again."
# How long one answer may hold its session: past it (a process died mid-answer), the session
# can be answered again. Longer than any step takes: a webhook waits at most 30 s.
CLAIM_LEASE_S = 60.0
# Validation refuses cycles of server steps; this only bounds a runaway definition.
MAX_HOPS = 200


@dataclass(frozen=True, slots=True)
class StepAnswer:
    """A client-facing step waits for input. ``csrf`` is the session's token for HTML forms."""

    session: str
    step_id: str
    payload: dict[str, Any]
    error: StepError | None = None
    csrf: str = field(default="", repr=False)
    environment_id: str = ""
    journey: str = ""
    # Where the OAuth sign-in the journey answers goes back to, if any (a page's forms may).
    return_to: ReturnTo | None = None


@dataclass(frozen=True, slots=True)
class Success:
    """The journey signed the user in: a session, and for an OAuth sign-in a code."""

    session: SessionIssued
    code: CodeIssued | None = None
    environment_id: str = ""
    journey: str = ""

    @property
    def data(self) -> dict[str, Any]:
        """The ``data`` of the journey API's Success answer."""
        code = self.code.as_json() if self.code is not None else {}
        return {**self.session.as_json(), **code}


@dataclass(frozen=True, slots=True)
class Rejection:
    error: StepError
    environment_id: str = ""
    journey: str = ""
    # Where the OAuth sign-in the journey answered goes back to: the refusal goes there.
    return_to: ReturnTo | None = None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A user already signed in (a session), whom a journey starts from: the steps that
    identify them (the password) are passed, the others (a fresh code) still ask."""

    user_id: str
    amr: list[str]
    auth_time: float


Answer = StepAnswer | Success | Rejection


class CompiledJourney:
    """A definition with a step object for each step (configs validated, expressions parsed)."""

    def __init__(self, stored: StoredJourney) -> None:
        definition = JourneyDefinition.model_validate(stored.definition)
        self.name = stored.name
        self.version = stored.version
        self.start = definition.start
        self.steps: dict[str, Step] = {
            step.id: REGISTRY[step.type](step) for step in definition.steps
        }


def _compile(rt: Runtime, environment_id: str, stored: StoredJourney) -> CompiledJourney:
    """Published versions never change, so a compiled one is kept (bounded, per runtime)."""
    key = (environment_id, stored.name, stored.version)
    journey = rt.compiled_journeys.get_or_make(key, lambda: CompiledJourney(stored))
    assert isinstance(journey, CompiledJourney)
    return journey


async def start_journey(
    rt: Runtime,
    actor: Actor,
    name: str,
    client_id: str,
    input: dict[str, Any],
    *,
    signed_in: SignedIn | None = None,
    vars: dict[str, Any] | None = None,
    authorization: AuthorizationRequest | None = None,
) -> Answer:
    """Start ``name`` for the application ``client_id``; runs until the first pause or the end.

    ``vars`` seeds the journey's variables (``step_up``, ``reauthenticate_after``,
    ``require_mfa``, ``needs_consent``);
    ``authorization`` is the OAuth request whose code the journey's end issues.
    """
    async with rt.db.transaction() as tx:
        app = await application_by_client_id(tx, client_id)
        env = None if app is None else await get_environment_by_id(tx, app.environment_id)
    if app is None or env is None:
        raise NotFound("Unknown application.")
    journey = _compile(rt, env.id, await get_journey(rt, env, name))
    state = JourneyState(step=journey.start, client_id=client_id, vars=vars or {})
    state.authorization = authorization
    if signed_in is not None:
        state.user_id, state.amr = signed_in.user_id, list(signed_in.amr)
        state.auth_time = signed_in.auth_time
    session_id, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    ctx = _context(rt, actor, env, app, session_id, state, input)
    first = journey.steps[journey.start]
    answer = await _run(ctx, journey, first, await _guarded(first.enter(ctx)), csrf)
    now = rt.clock.now()
    row = JourneySession(
        id=session_id,
        environment_id=env.id,
        journey=journey.name,
        version=journey.version,
        status=_status(answer),
        state=state.model_dump(mode="json"),
        seq=0,
        csrf=csrf,
        created_at=now,
        expires_at=now + rt.settings.journey_ttl_s,
    )
    async with rt.db.transaction() as tx:
        await repo.insert_session(tx, row)
    await _ended(rt, ctx, journey, answer)
    return answer


async def submit_answer(
    rt: Runtime,
    actor: Actor,
    session_id: str,
    input: dict[str, Any],
    *,
    csrf: str | None = None,
) -> Answer:
    """The client's answer to the step the session waits on; runs to the next pause or the end.

    An HTML form passes the ``csrf`` token it was rendered with; it must be the session's.
    """
    row, env, state, app = await _claim(rt, session_id, csrf)
    try:
        if env is None or app is None:
            raise JourneyExpired()
        journey = _compile(rt, env.id, await get_journey_version(rt, env, row.journey, row.version))
        ctx = _context(rt, actor, env, app, session_id, state, input)
        step = journey.steps[state.step]
        answer = await _run(ctx, journey, step, await _guarded(step.submit(ctx)), row.csrf)
    except Exception:
        # Whatever went wrong surfaces as it is, but never holds the session for the lease
        # (spec 3b.5): the client, or another node, may answer again at once.
        async with rt.db.transaction() as tx:
            await repo.release_session(tx, session_id, claimed_seq=row.seq + 1)
        raise
    async with rt.db.transaction() as tx:
        stored = await repo.store_session(
            tx,
            session_id,
            claimed_seq=row.seq + 1,
            state=state.model_dump(mode="json"),
            status=_status(answer),
        )
    if not stored:
        raise JourneyExpired()
    await _ended(rt, ctx, journey, answer)
    return answer


async def _claim(
    rt: Runtime, session_id: str, csrf: str | None
) -> tuple[JourneySession, EnvironmentRecord | None, JourneyState, ApplicationRecord | None]:
    """Claim the session for one answer (an optimistic sequence plus a lease), with what the
    answer needs; ``Conflict`` when another answer holds it."""
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        row = await repo.get_session(tx, session_id)
        if row is None or row.status != "active" or row.expires_at <= now:
            raise JourneyExpired()
        if csrf is not None and not same_token(csrf, row.csrf):
            raise Forbidden(STALE_FORM)
        claimed = await repo.claim_session(
            tx, session_id, read_seq=row.seq, now=now, lease_s=CLAIM_LEASE_S
        )
        env = await get_environment_by_id(tx, row.environment_id)
        state = JourneyState.model_validate(row.state)
        app = await application_by_client_id(tx, state.client_id)
    if not claimed:
        raise Conflict(BUSY)
    return row, env, state, app


def _context(
    rt: Runtime,
    actor: Actor,
    env: EnvironmentRecord,
    app: ApplicationRecord,
    session_id: str,
    state: JourneyState,
    input: dict[str, Any],
) -> StepContext:
    """The request's view of the journey, with ``vars.enforce`` from the config as it is now."""
    config = env.config
    enforce = config.totp.enforce and totp_enabled(rt.settings, config)
    state.vars = {**state.vars, "enforce": enforce}
    return StepContext(rt, actor, env, app, config, session_id, state, dict(input))


async def current_step(rt: Runtime, session_id: str) -> StepAnswer:
    """The step a live session waits on, as it was last shown (a page reload shows it again)."""
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        row = await repo.get_session(tx, session_id)
        env = None if row is None else await get_environment_by_id(tx, row.environment_id)
    if row is None or env is None or row.status != "active" or row.expires_at <= now:
        raise JourneyExpired()
    state = JourneyState.model_validate(row.state)
    if state.shown is None:
        raise JourneyExpired()
    shown = unseal(rt, session_id, state.shown)
    return StepAnswer(
        session_id,
        shown["step_id"],
        shown["payload"],
        None,
        row.csrf,
        env.id,
        row.journey,
        _return_to(state),
    )


async def _guarded(outcome: Awaitable[Outcome]) -> Outcome:
    """A step's outcome; an error it did not handle fails the step, and a closed lock or TOTP
    switched off end the journey whatever its branches say."""
    try:
        return await outcome
    except (AccountLocked, OperationDisabled) as exc:
        return Reject(StepError.of(exc))
    except TwostepError as exc:
        return Fail(StepError.of(exc))


async def _run(
    ctx: StepContext, journey: CompiledJourney, step: Step, outcome: Outcome, csrf: str
) -> Answer:
    for _ in range(MAX_HOPS):
        match outcome:
            case Pause(payload=payload, error=error):
                assert step.step_id is not None, f"server step {step.id} paused"
                ctx.state.step = step.id
                # Kept (sealed: it may hold a secret) so that a reloaded page can show it again.
                ctx.state.shown = ctx.seal({"step_id": step.step_id, "payload": payload})
                return StepAnswer(
                    ctx.session_id,
                    step.step_id,
                    payload,
                    error,
                    csrf,
                    ctx.env.id,
                    journey.name,
                    _return_to(ctx.state),
                )
            case Finish(session=session, code=code):
                ctx.state.shown = None
                return Success(session, code, ctx.env.id, journey.name)
            case Reject(error=error):
                ctx.state.shown = None
                return Rejection(error, ctx.env.id, journey.name, _return_to(ctx.state))
            case Fail(error=error):
                ctx.last_error = error or ctx.last_error
                target = step.definition.on_failure
                if target is None:
                    ctx.state.shown = None
                    error = ctx.last_error or StepError.of(AccessDenied())
                    return Rejection(error, ctx.env.id, journey.name, _return_to(ctx.state))
            case Advance():
                target = step.definition.next
                assert target is not None, f"step {step.id} has no next"
        step = journey.steps[target]
        ctx.state.step = target
        outcome = await _guarded(step.enter(ctx))
    raise RuntimeError(f"journey {journey.name} did not pause within {MAX_HOPS} steps")


def _return_to(state: JourneyState) -> ReturnTo | None:
    return None if state.authorization is None else state.authorization.return_to


def _status(answer: Answer) -> JourneyStatus:
    if isinstance(answer, StepAnswer):
        return "active"
    return "completed" if isinstance(answer, Success) else "rejected"


async def _ended(rt: Runtime, ctx: StepContext, journey: CompiledJourney, answer: Answer) -> None:
    if isinstance(answer, StepAnswer):
        return
    outcome = _status(answer)
    details: dict[str, Any] = {"journey": journey.name, "version": journey.version}
    if isinstance(answer, Rejection):
        details["code"] = answer.error.code
    async with rt.db.transaction() as tx:
        await audit(
            tx,
            rt,
            ctx.actor,
            f"journey.{outcome}",
            answer.error.code if isinstance(answer, Rejection) else "ok",
            environment_id=ctx.env.id,
            user_id=ctx.state.user_id,
            details=details,
        )
        await emit(tx, rt, ctx.env.id, *_login_event(ctx, journey, answer))
    JOURNEY_ENDS.labels(metric_label(journey.name), outcome).inc()


def _login_event(
    ctx: StepContext, journey: CompiledJourney, answer: Success | Rejection
) -> tuple[EventType, dict[str, Any]]:
    """Every journey that ends signs someone in (``login.succeeded``) or refuses them."""
    data: dict[str, Any] = {"user_id": ctx.state.user_id, "journey": journey.name}
    if isinstance(answer, Rejection):
        return "login.failed", {**data, "reason": answer.error.code}
    return "login.succeeded", {**data, "amr": list(ctx.state.amr)}


async def purge_expired(rt: Runtime) -> int:
    """Forget expired journey sessions, user sessions and remembered devices; returns how
    many rows went. (OAuth codes and tokens: ``oauth.purge``.)"""
    now = rt.clock.now()
    async with rt.db.transaction() as tx:
        gone = await repo.delete_expired_sessions(tx, now)
        gone += await sessions.delete_expired(tx, now)
        gone += await delete_expired_devices(tx, now)
    return gone
