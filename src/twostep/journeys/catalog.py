"""Publishing and reading journey definitions: validated at PUT, versioned, with built-ins."""

from __future__ import annotations

from typing import Any

from twostep.errors import NotFound
from twostep.journeys.definition import (
    BUILTIN_DISABLE,
    BUILTIN_ENROLL,
    BUILTIN_LOGIN,
    BUILTIN_REGENERATE_CODES,
    BUILTIN_REPLACE,
    validate_definition,
)
from twostep.services.audit import audit
from twostep.services.runtime import Actor, Runtime
from twostep.storage.repositories.journeys import (
    StoredJourney,
    add_version,
    get_version,
    latest_version,
)
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = ["BUILTINS", "get_journey", "get_journey_version", "metric_label", "put_journey"]

# Version 0 of every environment's journeys, until an admin publishes their own.
BUILTINS: dict[str, dict[str, Any]] = {
    "login": BUILTIN_LOGIN,
    "enroll": BUILTIN_ENROLL,
    "disable": BUILTIN_DISABLE,
    "regenerate_codes": BUILTIN_REGENERATE_CODES,
    "replace": BUILTIN_REPLACE,
}


async def put_journey(
    rt: Runtime, actor: Actor, env: EnvironmentRecord, name: str, raw: object
) -> StoredJourney:
    """Validate a definition and store it as the journey's next version."""
    definition = validate_definition(raw).model_dump(mode="json")
    async with rt.db.transaction() as tx:
        stored = await add_version(tx, env.id, name, definition, rt.clock.now())
        await audit(
            tx,
            rt,
            actor,
            "journey.publish",
            "ok",
            environment_id=env.id,
            details={"name": name, "version": stored.version},
        )
    return stored


async def get_journey(rt: Runtime, env: EnvironmentRecord, name: str) -> StoredJourney:
    """The newest published version, else the built-in one (version 0)."""
    async with rt.db.transaction() as tx:
        stored = await latest_version(tx, env.id, name)
    if stored is not None:
        return stored
    return _builtin(name)


async def get_journey_version(
    rt: Runtime, env: EnvironmentRecord, name: str, version: int
) -> StoredJourney:
    """The version a running journey started with (published versions are never changed)."""
    if version == 0:
        return _builtin(name)
    async with rt.db.transaction() as tx:
        stored = await get_version(tx, env.id, name, version)
    if stored is None:
        raise NotFound("Unknown journey.")
    return stored


def metric_label(name: str) -> str:
    """The journey's name as a metric label: a built-in's own, else ``custom`` (names are the
    tenant's text, which must not become label values)."""
    return name if name in BUILTINS else "custom"


def _builtin(name: str) -> StoredJourney:
    if name not in BUILTINS:
        raise NotFound("Unknown journey.")
    definition = validate_definition(BUILTINS[name]).model_dump(mode="json")
    return StoredJourney(name, 0, definition, 0.0)
