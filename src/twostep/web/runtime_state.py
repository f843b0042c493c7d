"""Building the runtime once per process and hanging it on the app; each request speaks with
that runtime's texts."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from twostep.i18n import current_texts, load_overrides
from twostep.services.runtime import Runtime
from twostep.settings import Settings
from twostep.web.texts import ALIASES, mib_tag
from twostep.wiring import build_runtime

__all__ = ["RuntimeTexts", "attach_runtime"]


def attach_runtime(app: FastAPI, settings: Settings) -> Runtime:
    """Build the runtime (with the operator's text overrides) and keep it on ``app.state``."""
    # First, so that a bad override file stops the start with its ValueError naming the file.
    texts = load_overrides(settings.translations_dir, ALIASES, tolerated=mib_tag)
    runtime = build_runtime(settings, texts=texts)
    app.state.runtime = runtime
    return runtime


class RuntimeTexts:
    """Make the app's runtime texts the ones ``translate`` uses for the whole request, so that
    two apps in one process never speak with each other's overrides."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
        if scope["type"] != "http" or runtime is None:
            await self.app(scope, receive, send)
            return
        with current_texts(runtime.texts):
            await self.app(scope, receive, send)
