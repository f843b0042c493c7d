"""Building the runtime once per process and hanging it on the app."""

from __future__ import annotations

from fastapi import FastAPI

from twostep.i18n import load_overrides
from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.web.texts import ALIASES
from twostep.wiring import build_runtime

__all__ = ["attach_runtime"]


def attach_runtime(app: FastAPI, settings: Settings) -> Runtime:
    # First, so that a bad override file stops the start with its ValueError naming the file.
    load_overrides(settings.translations_dir, ALIASES)
    runtime = build_runtime(settings)
    app.state.runtime = runtime
    return runtime
