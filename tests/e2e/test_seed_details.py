"""Seed details through a live server on each engine: Cryptr's totp-connection switch, Aidbox's
login link carrying an OAuth request, the drift in the user summary, readiness against the
schema head."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.e2e.test_admin_console import signed_in
from tests.e2e.test_api_errors import assert_problem, enroll
from tests.server import Api, Server, new_organization, running_server
from twostep.storage.migrate import head_revision, upgrade

CALLBACK = "https://app.example.test/callback"


def connection_path(api: Api) -> str:
    return f"/api/v2/org/{api.org}/totp-connection"


def test_totp_connection_switches_totp_active_from_a_form_or_json(api: Api) -> None:
    assert api.request("GET", connection_path(api)).json() == {"active": True}
    off = api.request("PUT", connection_path(api), data={"active": "false"})
    assert off.status_code == 200, off.text
    assert off.json() == {"active": False}
    config = api.request("GET", f"/api/v1/org/{api.org}/auth-config").json()
    assert config["totp"]["active"] is False
    assert api.request("GET", connection_path(api)).json() == {"active": False}
    on = api.request("PUT", connection_path(api), json={"active": True})
    assert on.json() == {"active": True}
    assert_problem(
        api.request("PUT", connection_path(api), data={"active": "maybe"}), 422, "validation_error"
    )
    assert_problem(
        api.request("PUT", connection_path(api), json={"active": "yes"}), 422, "validation_error"
    )


def test_totp_connection_keeps_the_api_key_rules(server: Server, api: Api) -> None:
    other, _ = new_organization(server)
    try:
        refused = other.request("PUT", connection_path(api), data={"active": "false"})
        assert_problem(refused, 403, "forbidden")
        with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
            assert_problem(anonymous.get(connection_path(api)), 401, "unauthorized")
    finally:
        other.close()
    assert api.request("GET", connection_path(api)).json() == {"active": True}


def test_aidbox_login_link_continues_as_an_authorization_request(server: Server, api: Api) -> None:
    client_id = f"aidbox-{secrets.token_hex(3)}"
    created = api.request(
        "POST",
        f"/api/v1/org/{api.org}/applications",
        json={"client_id": client_id, "redirect_uris": [CALLBACK]},
    )
    assert created.status_code == 201, created.text
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "state": "aidbox-state",
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        "prompt": "none",
    }
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        login = http.get(f"/auth/login?{urlencode(query)}")
        assert login.status_code == 303
        assert login.headers["location"] == f"/oauth/authorize?{urlencode(query)}"
        authorize = http.get(login.headers["location"])
    # The OAuth parameters were read: no session, prompt=none -> back to the client, its state.
    back = urlsplit(authorize.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    answer = parse_qs(back.query)
    assert (answer["error"], answer["state"]) == (["login_required"], ["aidbox-state"])
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert http.get("/auth/login").status_code == 422  # neither an org nor a client


def test_the_user_summary_and_the_console_show_the_drift_in_seconds(
    server: Server, api: Api
) -> None:
    user, _, _ = enroll(api)
    summary = api.request("GET", api.user_path(user["id"])).json()["two_factor"]
    assert summary["drift_s"] == 0
    with httpx.Client(base_url=server.base_url, timeout=30) as console:
        page = signed_in(console, api).get(f"/admin/users/{user['id']}")
    assert "Clock drift" in page.text
    assert 'data-drift-s="0">0 s<' in page.text


def test_readiness_waits_for_the_schema_head(tmp_path: Path, database_url: str) -> None:
    asyncio.run(upgrade(database_url, "0013"))
    serve = ("serve", "--no-migrate")
    with (
        running_server(tmp_path / "data", database_url, command=serve) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        behind = http.get("/readyz")
        assert behind.status_code == 503
        reason = behind.json()["reason"]
        assert behind.json()["status"] == "unavailable"
        assert "0013" in reason
        assert f"{head_revision()}" in reason
        assert "twostep migrate" in reason
        server.cli("migrate")
        deadline = time.monotonic() + 10
        while (ready := http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
        assert ready.json() == {"status": "ok"}
