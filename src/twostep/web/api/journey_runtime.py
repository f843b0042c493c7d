"""The public journey API for headless clients (spec 5): start a journey, submit answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from twostep.i18n import negotiate
from twostep.journeys.runner import Answer, Rejection, StepAnswer, start_journey, submit_answer
from twostep.services.runtime import Actor
from twostep.web.api.journeys import JourneyName
from twostep.web.client_address import end_user_actor
from twostep.web.deps import ID_PATTERN, RuntimeDep

__all__ = [
    "SessionPath",
    "StartIn",
    "StepOut",
    "SubmitIn",
    "answer_out",
    "router",
    "start",
    "submit",
]

router = APIRouter(prefix="/api/v1/journeys", tags=["journey runtime"])

SessionPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]


class StartIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"client_id": "shop-web", "input": {"login_hint": "ada@example.com"}}]
        },
    )

    client_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    input: dict[str, Any] = Field(default_factory=dict)


class SubmitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"input": {"code": "492039"}}]}
    )

    input: dict[str, Any] = Field(default_factory=dict)


class StepOut(BaseModel):
    """A step waiting for input (`session` set), or the end: `Success` or `Rejection`."""

    session: str | None = None
    journeyStepId: str
    data: dict[str, Any]


def _actor(request: Request) -> Actor:
    return end_user_actor(request, "journey")


def answer_out(answer: Answer, locale: str) -> StepOut:
    if isinstance(answer, StepAnswer):
        data: dict[str, Any] = {"payload": answer.payload}
        if answer.error is not None:
            data["error"] = answer.error.as_json(locale)
        return StepOut(session=answer.session, journeyStepId=answer.step_id, data=data)
    if isinstance(answer, Rejection):
        return StepOut(journeyStepId="Rejection", data={"error": answer.error.as_json(locale)})
    return StepOut(journeyStepId="Success", data=answer.data)


@router.post("/{name}/start", response_model_exclude_none=True, operation_id="startJourney")
async def start(name: JourneyName, body: StartIn, request: Request, rt: RuntimeDep) -> StepOut:
    """Start the journey `name` (`login`, `enroll`, `disable` or a published one) for the
    application `client_id`; `input` is what the first steps' expressions read as `input.*`."""
    answer = await start_journey(rt, _actor(request), name, body.client_id, body.input)
    return answer_out(answer, negotiate(request.headers.get("accept-language")))


@router.post(
    "/sessions/{session}/submit",
    response_model_exclude_none=True,
    operation_id="submitJourneyStep",
)
async def submit(session: SessionPath, body: SubmitIn, request: Request, rt: RuntimeDep) -> StepOut:
    """Answer the step the session waits on. An expired or finished session is
    `410 journey_expired`; a second answer racing the first is `409 conflict`."""
    answer = await submit_answer(rt, _actor(request), session, body.input)
    return answer_out(answer, negotiate(request.headers.get("accept-language")))
