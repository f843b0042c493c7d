"""The lean lane of the code checks (``web/fast_lane.py``) answers exactly what the FastAPI
routes answer. An app built with it and one built without it, each on a fresh database of the
same engine, go through the same story (enrollments, good, reused and wrong codes, a lockout,
every kind of wrong key, organization, query, header and body); every answer must be the same,
status, headers and body, and the lane must have answered the well-formed requests itself.
On a real server, the requests the lane answers are counted under the route's template."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.e2e.test_api_errors import enroll, wrong_code
from tests.e2e.test_observability import sample, scrape
from tests.pg import PostgresServer
from tests.server import Server, new_organization
from twostep.clock import FrozenClock
from twostep.services.bootstrap import ensure_admin_key
from twostep.settings import Settings
from twostep.storage.migrate import upgrade
from twostep.web.app import create_app
from twostep.web.fast_lane import FastLane

ADMIN_KEY = f"ts_admin_lane_{secrets.token_urlsafe(16)}"
VERIFY = "/api/v1/org/{org}/users/{user_id}/totp/verify"
CONFIRM = "/api/v1/org/{org}/users/{user_id}/totp/confirm"
# A frozen instant in the middle of a 30 s step: both apps see the same time, codes and
# Retry-After values.
NOW = (time.time() // 30) * 30 + 10
RECOVERY_CODE = re.compile(r'"[0-9a-z]{4}(?:-[0-9a-z]{4}){3}"')


@dataclass(frozen=True)
class Case:
    """One request of the story; ``lane``: whether the lane answers it itself."""

    name: str
    status: int  # what the FastAPI route answers (and so the lane)
    lane: bool
    user: str = "main"  # a user of the story by name, else a literal path segment
    code: str = "wrong"  # "valid" (the current code), "wrong", or a literal code
    tail: str = "/totp/verify"
    key: str = "production"  # production, sandbox (of acme), admin, other (org), none, wrong
    org: str = "acme"
    query: str = ""
    body: bytes | None = None  # instead of {"code": ...}
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "POST"
    chunked: bool = False


ENROLLMENT = [
    Case("confirm valid", 200, True, code="valid", tail="/totp/confirm"),
    Case("confirm lock user", 200, True, user="lock", code="valid", tail="/totp/confirm"),
    Case("confirm spare user", 200, True, user="spare", code="valid", tail="/totp/confirm"),
    Case("confirm spare2 user", 200, True, user="spare2", code="valid", tail="/totp/confirm"),
    Case(
        "confirm with application",
        200,
        True,
        user="app",
        code="valid",
        tail="/totp/confirm",
        query="application=shop-web",
    ),
    Case("confirm wrong code", 400, True, user="pending", tail="/totp/confirm"),
    Case("confirm when active", 409, True, code="valid", tail="/totp/confirm"),
    Case("confirm without key", 401, True, user="pending", tail="/totp/confirm", key="none"),
    Case("confirm invalid JSON", 422, False, tail="/totp/confirm", body=b'{"code": '),
]
# Thirty seconds later: the next step, whose code none of the confirmations spent.
CHECKS = [
    Case("valid code", 200, True, code="valid"),
    Case("reused code", 400, True, code="valid"),
    Case("wrong code", 400, True),
    Case("wrong code in French", 400, True, headers=(("Accept-Language", "fr"),)),
    *[
        Case(f"lock user wrong code {n}", 400 if n < 5 else 429, True, user="lock")
        for n in range(6)
    ],
    Case("locked, valid code", 429, True, user="lock", code="valid"),
    Case("unknown user", 404, True, user="no-such-user"),
    Case("another organization's path", 403, True, org="other"),
    Case("unknown organization", 403, True, org="nowhere"),
    Case("no key", 401, True, key="none"),
    Case("wrong key", 401, True, key="wrong"),
    Case("another organization's key", 403, True, key="other"),
    Case("sandbox key, production user", 404, True, key="sandbox"),
    Case("admin key with env=", 400, True, user="spare", key="admin", query="env=production"),
    Case("admin key without env=", 400, True, user="spare", key="admin"),
    Case("environment key with env=", 403, True, user="spare", query="env=sandbox"),
    Case("bad env=", 422, False, user="spare", key="admin", query="env=staging"),
    Case("application valid", 200, True, user="app", code="valid", query="application=shop-web"),
    Case("application without authenticator", 404, True, query="application=shop-web"),
    Case("application unknown", 404, True, query="application=no-such-app"),
    Case("application malformed", 422, False, query="application=bad%20app"),
    Case("application twice", 404, False, query="application=shop-web&application=shop-web"),
    Case("unknown query parameter", 400, False, user="spare", query="page=2"),
    Case("Twostep-Forwarded-For malformed", 422, True, headers=(("Twostep-Forwarded-For", "me"),)),
    Case(
        "Twostep-Forwarded-For",
        400,
        True,
        user="spare",
        headers=(("Twostep-Forwarded-For", "203.0.113.9"),),
    ),
    Case("empty body", 422, False, body=b""),
    Case("invalid JSON", 422, False, body=b'{"code": "12'),
    Case("body with extra fields", 422, False, body=b'{"code": "123456", "remember": true}'),
    Case("code too long", 422, False, body=json.dumps({"code": "1" * 65}).encode()),
    Case("code as a number", 422, False, body=b'{"code": 123456}'),
    Case("body a list", 422, False, body=b'["123456"]'),
    Case("text/plain body", 422, False, content_type="text/plain"),
    Case("no content type", 422, False, content_type=None),
    Case(
        "JSON with charset",
        400,
        True,
        user="spare2",
        content_type="application/json; charset=utf-8",
    ),
    Case("body in two chunks", 400, True, user="spare2", chunked=True),
    Case("longest code", 400, True, user="spare2", code="7" * 64),
    Case("user id outside its pattern", 401, False, user="bad$id", key="none"),
    Case("organization outside its pattern", 422, False, org="Bad_Org"),
    Case("trailing slash", 307, False, tail="/totp/verify/"),
    Case("GET", 405, False, method="GET"),
]


class Answer(NamedTuple):
    case: str
    status: int
    headers: list[tuple[str, str]]
    body: str
    by_lane: bool  # the lane answered, FastAPI's router never saw the request


@dataclass
class Story:
    """One app of the comparison, with what the story learned on it."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: FrozenClock
    handed: list[str]  # the paths the lane handed to FastAPI's router
    keys: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # name -> id
    uris: dict[str, str] = field(default_factory=dict)  # name -> otpauth URI


@asynccontextmanager
async def started(database_url: str, data_dir: Path, *, fast_lane: bool) -> AsyncIterator[Story]:
    await upgrade(database_url)
    settings = Settings(data_dir=data_dir, database_url=database_url, admin_api_key=ADMIN_KEY)
    app = create_app(settings, fast_lane=fast_lane)
    async with app.router.lifespan_context(app):
        clock = FrozenClock(NOW)
        app.state.runtime = replace(app.state.runtime, clock=clock)
        await ensure_admin_key(app.state.runtime)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://twostep.test") as http:
            yield Story(app, http, clock, record_hand_overs(app))


def record_hand_overs(app: FastAPI) -> list[str]:
    """Wrap what is inside the lane (FastAPI's router) to note each request it gets."""
    handed: list[str] = []
    app.middleware_stack = app.build_middleware_stack()
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, FastLane):
        layer = getattr(layer, "app", None)
    if layer is None:
        return handed
    inner: ASGIApp = layer.app

    async def noting(scope: Scope, receive: Receive, send: Send) -> None:
        handed.append(scope["path"])
        await inner(scope, receive, send)

    layer.app = noting
    return handed


async def set_up(story: Story) -> None:
    """Two organizations, an application, users with pending authenticators."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for domain in ("acme", "other"):
        created = await story.client.post(
            "/api/v1/organizations", json={"name": domain, "domain": domain}, headers=admin
        )
        assert created.status_code == 201, created.text
        keys = created.json()["api_keys"]
        if domain == "acme":
            story.keys.update(keys)
        else:
            story.keys["other"] = keys["production"]
    story.keys.update(admin=ADMIN_KEY, wrong="ts_live_" + "x" * 40)
    acme = {"Authorization": f"Bearer {story.keys['production']}"}
    made = await story.client.post(
        "/api/v1/org/acme/applications",
        json={"client_id": "shop-web", "redirect_uris": ["https://shop.example.com/cb"]},
        headers=acme,
    )
    assert made.status_code == 201, made.text
    for name in ("main", "lock", "spare", "spare2", "app", "pending"):
        user = await story.client.post(
            "/api/v1/org/acme/users", json={"email": f"{name}@acme.test"}, headers=acme
        )
        assert user.status_code == 201, user.text
        story.users[name] = user.json()["id"]
        registered = await story.client.post(
            f"/api/v1/org/acme/users/{story.users[name]}/totp",
            params={"application": "shop-web"} if name == "app" else {},
            headers=acme,
        )
        assert registered.status_code == 201, registered.text
        story.uris[name] = registered.json()["uri"]


def code_of(story: Story, case: Case) -> str:
    """The user's current code, one that no step near now produces, or the case's literal."""
    if case.code not in ("valid", "wrong"):
        return case.code
    if case.user not in story.uris:  # no such user: any code of the right shape
        return "000000"
    key = pyotp.parse_uri(story.uris[case.user])
    assert isinstance(key, pyotp.TOTP)
    valid = key.at(story.clock.now())
    if case.code == "valid":
        return valid
    near = {key.at(story.clock.now() + steps * 30) for steps in range(-3, 4)}
    return next(c for c in ("000000", "111111", "222222") if c not in near)


async def send(story: Story, case: Case, number: int) -> Answer:
    """The case's answer, with what differs between the two apps by nature (ids, recovery
    codes) replaced by names; and whether the lane answered it."""
    user_id = story.users.get(case.user, case.user)
    url = f"/api/v1/org/{case.org}/users/{user_id}{case.tail}"
    if case.query:
        url += f"?{case.query}"
    body = case.body if case.body is not None else json.dumps({"code": code_of(story, case)})
    headers = {"X-Request-Id": f"case-{number}", **dict(case.headers)}
    if case.key != "none":
        headers["Authorization"] = f"Bearer {story.keys[case.key]}"
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    content: Any = body.encode() if isinstance(body, str) else body
    if case.chunked:
        content = chunks(content)
    handed_before = len(story.handed)
    response = await story.client.request(case.method, url, content=content, headers=headers)
    text, answered = response.text, response.headers.multi_items()
    for name, value in story.users.items():
        text = text.replace(value, f"<{name}>")
        answered = [(k, v.replace(value, f"<{name}>")) for k, v in answered]
    text = RECOVERY_CODE.sub('"xxxx-xxxx-xxxx-xxxx"', text)
    return Answer(
        case.name, response.status_code, answered, text, len(story.handed) == handed_before
    )


async def chunks(content: bytes) -> AsyncIterator[bytes]:
    half = len(content) // 2
    yield content[:half]
    yield content[half:]


async def tell(story: Story) -> list[Answer]:
    await set_up(story)
    answers = [await send(story, case, n) for n, case in enumerate(ENROLLMENT)]
    story.clock.advance(30)
    answers += [await send(story, case, len(answers) + n) for n, case in enumerate(CHECKS)]
    # A bug below the route (here: no database at all) is the server-error handler's 500.
    story.app.state.runtime = replace(story.app.state.runtime, db=None)
    answers.append(await send(story, Case("a bug", 500, True, user="spare"), len(answers)))
    return answers


@pytest.fixture
def database_urls(engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    """Two empty databases of the engine under test."""
    if engine_name == "sqlite":
        return [f"sqlite+aiosqlite:///{tmp_path / f'twostep-{n}.db'}" for n in range(2)]
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return [postgres.new_database() for _ in range(2)]


async def test_the_lane_answers_what_the_route_answers(
    database_urls: list[str], tmp_path: Path
) -> None:
    async with started(database_urls[0], tmp_path / "a", fast_lane=False) as routed:
        by_route = await tell(routed)
    async with started(database_urls[1], tmp_path / "b", fast_lane=True) as laned:
        by_lane = await tell(laned)
    cases = [*ENROLLMENT, *CHECKS]
    # What a client sees is the same, request by request ...
    assert [answer[:4] for answer in by_lane] == [answer[:4] for answer in by_route]
    # ... it is what the route is known to answer ...
    assert [answer.status for answer in by_route] == [case.status for case in cases] + [500]
    assert by_lane[len(ENROLLMENT)].body == '{"valid":true}'
    five_codes = ",".join(['"xxxx-xxxx-xxxx-xxxx"'] * 5)
    assert by_lane[0].body == f'{{"recovery_codes":[{five_codes}]}}'
    # ... and the lane answered the well-formed requests itself, and only those.
    assert [answer.by_lane for answer in by_lane] == [case.lane for case in cases] + [True]


def test_a_server_counts_the_lane_s_answers_under_the_route_templates(
    sqlite_server: Server,
) -> None:
    api = new_organization(sqlite_server)[0]
    before = scrape(sqlite_server, token=None)
    user, registration, recovery_codes = enroll(api)  # confirmed through the lane
    refused = api.verify(user["id"], wrong_code(registration))
    api.close()
    assert len(recovery_codes) == 5
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    text = scrape(sqlite_server, token=None)
    for template, status in ((CONFIRM, "2xx"), (VERIFY, "4xx")):
        labels = {"handler": template, "method": "POST", "status": status}
        grown = sample(text, "http_requests_total", **labels)
        assert grown - sample(before, "http_requests_total", **labels) == 1
    assert user["id"] not in text  # never a raw path as a label
