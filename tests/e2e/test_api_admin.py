"""Management API routes of the admin tasks on a live server, on both engines: users by
``?q=``, the audit trail's cursor, filters and exports, and organizations as a server admin
manages them."""

from __future__ import annotations

import csv
import io
import json
import secrets
import threading

import httpx

from tests.server import Api, Server, new_organization


def _audit(api: Api, **params: str | int) -> httpx.Response:
    return api.request("GET", f"/api/v1/org/{api.org}/audit-events", params=params)


def test_users_are_found_by_q_whatever_the_case_and_accents(api: Api) -> None:
    elodie = api.create_user(email="ÉLODIE@x.test")
    api.create_user(email="other@x.test", username="Zoë")
    for q, found in (("élodie", [elodie["id"]]), ("ELODIE", [elodie["id"]]), ("zoe", None)):
        answer = api.request("GET", f"/api/v1/org/{api.org}/users", params={"q": q})
        assert answer.status_code == 200, answer.text
        ids = [u["id"] for u in answer.json()["data"]]
        assert answer.json()["total"] == 1
        if found is not None:
            assert ids == found


def test_audit_cursor_pages_hold_every_event_once_while_others_are_written(api: Api) -> None:
    for _ in range(12):
        api.create_user()
    before = [
        json.loads(line)
        for line in _audit(api, action="user.create", format="ndjson").text.splitlines()
    ]
    assert len(before) == 12
    writer = threading.Thread(target=lambda: [api.create_user() for _ in range(6)])
    seen: list[dict[str, str]] = []
    cursor: str | None = None
    writer.start()
    try:
        while True:
            params: dict[str, str | int] = {"action": "user.create", "limit": 5}
            if cursor:
                params["cursor"] = cursor
            page = _audit(api, **params).json()
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        writer.join()
    # Newer events may come first; from the first page on, no event repeats or goes missing.
    keys = [(e["at"], e["user_id"]) for e in seen]
    assert len(keys) == len(set(keys))
    older = {(e["at"], e["user_id"]) for e in before}
    assert older <= set(keys)


def test_audit_filters_and_exports(api: Api) -> None:
    api.create_user()
    events = _audit(api).json()["data"]
    actions = {e["action"] for e in events}
    assert {"organization.create", "user.create"} <= actions
    only = _audit(api, action="user.create").json()["data"]
    assert [e["action"] for e in only] == ["user.create"]
    first = min(e["at"] for e in events)
    assert _audit(api, until=first).json()["data"] == []
    assert len(_audit(api, since=first).json()["data"]) == len(events)
    ndjson = api.request(
        "GET",
        f"/api/v1/org/{api.org}/audit-events",
        headers={"Accept": "application/x-ndjson"},
    )
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [r["action"] for r in rows] == [e["action"] for e in events]
    answer = _audit(api, format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(table[0]) == [
        *("id", "at", "actor", "action", "user_id", "outcome", "ip", "details"),
        *("seq", "prev_hash", "hash"),
    ]
    assert [r["action"] for r in table] == [e["action"] for e in events]


def test_a_forged_cursor_is_a_problem_not_a_crash(api: Api) -> None:
    answer = _audit(api, cursor="not-a-cursor")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "validation_error"


def test_organizations_listed_updated_and_deleted_by_a_server_admin(server: Server) -> None:
    api, _ = new_organization(server)
    user = api.create_user()
    admin = Api(server.base_url, server.admin_key)
    try:
        listed = admin.request("GET", "/api/v1/organizations", params={"per_page": 100}).json()
        assert api.org in [o["domain"] for o in listed["data"]]
        assert listed["total"] >= 1
        # An organization's own key may not list, change or delete organizations.
        assert api.request("GET", "/api/v1/organizations").status_code == 403
        assert api.request("DELETE", f"/api/v1/organizations/{api.org}").status_code == 403
        patch = {"name": "Renamed", "email_domains": ["renamed.test"]}
        changed = admin.request("PATCH", f"/api/v1/organizations/{api.org}", json=patch)
        assert changed.status_code == 200, changed.text
        assert (changed.json()["name"], changed.json()["email_domains"]) == (
            "Renamed",
            ["renamed.test"],
        )
        bad = admin.request("PATCH", f"/api/v1/organizations/{api.org}", json={"domain": "x"})
        assert bad.status_code == 422
        assert admin.request("DELETE", f"/api/v1/organizations/{api.org}").status_code == 204
        assert admin.request("GET", f"/api/v1/organizations/{api.org}").status_code == 404
        gone = admin.request("DELETE", f"/api/v1/organizations/{api.org}")
        assert gone.status_code == 404
        missing = f"org-{secrets.token_hex(4)}"
        assert (
            admin.request("PATCH", f"/api/v1/organizations/{missing}", json={}).status_code == 404
        )
    finally:
        admin.close()
        api.close()
    assert user["id"]
