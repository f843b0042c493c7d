"""The one place errors become RFC 9457 problem documents with a stable ``code``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from twostep.errors import TwostepError
from twostep.i18n import NO_OVERRIDES, Texts, negotiate
from twostep.web.request_id import HEADER as REQUEST_ID_HEADER
from twostep.web.request_id import request_id_of

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem_codes", "problem_response"]

_log = structlog.get_logger("twostep.web")
PROBLEM_JSON = "application/problem+json"
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem_codes() -> list[str]:
    """Every ``code`` a problem answer of this server can carry, sorted: the errors' codes, the
    HTTP errors' and the fallbacks below (documented as the enum of the OpenAPI ``Problem``)."""
    codes = {"validation_error", "internal_error", "error", *_HTTP_CODES.values()}
    pending: list[type[TwostepError]] = [TwostepError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(codes)


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    msgid: str,
    params: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    locale = negotiate(request.headers.get("accept-language"))
    body: dict[str, Any] = {
        "type": f"https://twostep.dev/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": _texts(request).translate(locale, msgid, **(params or {})),
        "instance": _instance(request.scope["path"]),
    }
    if errors:
        body["errors"] = errors
    request_id = request_id_of(request.scope)
    if request_id is not None:  # so that a client's report leads to the server's log lines
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _instance(path: str) -> str:
    """``request.url.path``, without building and parsing the whole URL (this runs on every
    refused code): the path with what would end it in a URL escaped, as Starlette does."""
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _texts(request: Request) -> Texts:
    """The app's runtime texts, read from the app itself: an unexpected error is answered
    outside the middleware that makes them current for ``translate``."""
    runtime = getattr(request.app.state, "runtime", None)
    return runtime.texts if runtime is not None else NO_OVERRIDES


def _clean_errors(raw: list[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without the offending input, which may be a code or a password."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
        for e in raw[:20]
    ]


async def _twostep_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TwostepError)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        msgid=exc.msgid,
        params=exc.params,
        errors=exc.errors,
        headers=headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        request,
        status=422,
        code="validation_error",
        title="Validation error",
        msgid="The request is not valid.",
        errors=_clean_errors(list(exc.errors())),
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 400:
        # FastAPI's answer to a body it could not parse (bad or too deeply nested JSON).
        return problem_response(
            request,
            status=422,
            code="validation_error",
            title="Validation error",
            msgid="The request is not valid.",
            errors=[{"loc": ["body"], "msg": "body is not valid JSON", "type": "json_invalid"}],
        )
    return problem_response(
        request,
        status=status,
        code=_HTTP_CODES.get(status, "error" if status >= 500 else "bad_request"),
        title=str(exc.detail) if isinstance(exc.detail, str) else "Error",
        msgid=str(exc.detail) if isinstance(exc.detail, str) else "Error",
        headers=exc.headers,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error("unhandled error", path=request.url.path, error_type=type(exc).__name__)
    request_id = request_id_of(request.scope)
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title="Internal error",
        msgid="Something went wrong on our side.",
        # Answered outside the RequestId middleware, which cannot add its header here.
        headers={REQUEST_ID_HEADER: request_id} if request_id is not None else None,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TwostepError, _twostep_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
