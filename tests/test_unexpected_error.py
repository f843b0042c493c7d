"""An unexpected error is answered as a problem that still names its request: the client's
report leads to the server's log lines even for a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from twostep.web.problems import install_problem_handlers
from twostep.web.request_id import RequestId


def _app_with_a_bug() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestId)

    @app.get("/bug", operation_id="bug")
    async def bug() -> None:
        raise RuntimeError("a bug, not a client error")

    return app


async def test_a_500_carries_the_request_id_in_header_and_body() -> None:
    transport = httpx.ASGITransport(app=_app_with_a_bug(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/bug", headers={"X-Request-Id": "r-500"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert "a bug" not in response.text  # nothing of the exception leaks to the client
    assert response.headers["x-request-id"] == body["request_id"] == "r-500"
