"""Building the runtime once per process and hanging it on the app."""

from __future__ import annotations

from fastapi import FastAPI

from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.wiring import build_runtime

__all__ = ["attach_runtime"]


def attach_runtime(app: FastAPI, settings: Settings) -> Runtime:
    runtime = build_runtime(settings)
    app.state.runtime = runtime
    return runtime
