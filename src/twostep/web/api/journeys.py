"""Journey definitions of an environment (spec section 6): PUT validates and adds a version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel

from twostep.journeys import catalog
from twostep.storage.repositories.journeys import StoredJourney
from twostep.web.api.schemas import iso
from twostep.web.deps import ScopeDep

__all__ = ["JourneyName", "JourneyOut", "publish_journey", "read_journey", "router"]

router = APIRouter(prefix="/api/v1/org/{org}/journeys", tags=["journeys"])

JourneyName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class JourneyOut(BaseModel):
    name: str
    version: int
    builtin: bool
    created_at: str | None
    definition: dict[str, Any]

    @classmethod
    def of(cls, stored: StoredJourney) -> JourneyOut:
        return cls(
            name=stored.name,
            version=stored.version,
            builtin=stored.version == 0,
            created_at=iso(stored.created_at) if stored.version else None,
            definition=stored.definition,
        )


@router.get("/{name}", operation_id="getJourney")
async def read_journey(name: JourneyName, scope: ScopeDep) -> JourneyOut:
    """The newest version, or the built-in definition of `login`, `enroll` and `disable`."""
    return JourneyOut.of(await catalog.get_journey(scope.rt, scope.env, name))


@router.put("/{name}", operation_id="publishJourney")
async def publish_journey(
    name: JourneyName,
    scope: ScopeDep,
    definition: Any = Body(
        ...,
        examples=[
            {
                "start": "ask",
                "steps": [
                    {"id": "ask", "type": "password", "next": "done", "on_failure": "no"},
                    {"id": "done", "type": "complete"},
                    {"id": "no", "type": "reject"},
                ],
            }
        ],
    ),
) -> JourneyOut:
    """Validate the definition (422 naming the step at fault) and store it as a new version;
    running journeys keep the version they started with."""
    stored = await catalog.put_journey(scope.rt, scope.actor, scope.env, name, definition)
    return JourneyOut.of(stored)
