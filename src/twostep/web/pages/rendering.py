"""Rendering a page: the template, the visitor's language, the environment's theme, and the
headers every page carries (CSP, no framing, no referrer, no caching)."""

from __future__ import annotations

from functools import partial
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from twostep.i18n import LOCALES, negotiate, translate
from twostep.policy import ThemeConfig
from twostep.services.runtime import Runtime
from twostep.storage.repositories.organizations import EnvironmentRecord

__all__ = ["LANGUAGE_NAMES", "LANG_COOKIE", "TEMPLATES", "page_locale", "render", "secure_cookies"]

LANG_COOKIE = "twostep_lang"
LANGUAGE_NAMES = {"en": "English", "es": "Español", "fr": "Français"}
TEMPLATES = Jinja2Templates(directory=str(files("twostep") / "web" / "templates"))


def page_locale(request: Request) -> str:
    """``?lang=`` (the switcher), else the remembered choice, else Accept-Language."""
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if chosen in LOCALES:
            return str(chosen)
    return negotiate(request.headers.get("accept-language"))


def secure_cookies(rt: Runtime) -> bool:
    return rt.settings.resolved_base_url.startswith("https://")


def _origin(url: str | None) -> str | None:
    if not url or url.startswith("/"):
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _csp(theme: ThemeConfig, form_targets: tuple[str, ...]) -> str:
    styles = " ".join(filter(None, ["'self'", _origin(theme.style_url)]))
    images = " ".join(filter(None, ["'self'", "data:", _origin(theme.logo_url)]))
    # A form whose answer redirects elsewhere (an OAuth redirect URI) needs that origin too.
    forms = " ".join(["'self'", *filter(None, map(_origin, form_targets))])
    return (
        f"default-src 'none'; style-src {styles}; img-src {images}; form-action {forms}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def render(
    request: Request,
    template: str,
    *,
    env: EnvironmentRecord | None,
    status: int = 200,
    form_targets: tuple[str, ...] = (),
    **context: Any,
) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    locale = page_locale(request)
    theme = env.config.theme if env is not None else ThemeConfig()
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "_": partial(translate, locale),
            "locale": locale,
            "locales": LOCALES,
            "theme": theme,
            "env": env,
            # The language switcher: this page again in each language.
            "lang_links": [
                (code, str(request.url.include_query_params(lang=code))) for code in LOCALES
            ],
            "language_names": LANGUAGE_NAMES,
            **context,
        },
        status_code=status,
    )
    response.headers["Content-Security-Policy"] = _csp(theme, form_targets)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    if request.query_params.get("lang") in LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            locale,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(rt),
        )
    return response
