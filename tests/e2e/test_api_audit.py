"""The audit trail an operator reads: every enrollment, check and recovery, never a credential."""

from __future__ import annotations

from contextlib import closing

from tests.e2e.test_api_errors import assert_problem, enroll, totp_code, wrong_code
from tests.server import Api, Server, new_organization


def test_audit_trail_records_who_what_where_and_the_outcome(api: Api) -> None:
    user, registration, recovery_codes = enroll(api)
    assert api.verify(user["id"], wrong_code(registration)).status_code == 400
    assert api.verify(user["id"], totp_code(registration, 1)).status_code == 200
    used = api.request(
        "POST",
        api.user_path(user["id"], "/recovery-codes/verify"),
        json={"code": recovery_codes[0]},
    )
    assert used.status_code == 200, used.text

    response = api.request(
        "GET", f"/api/v1/org/{api.org}/audit-events", params={"user": user["id"]}
    )
    assert response.status_code == 200, response.text
    events = response.json()["data"]
    # Newest first.
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("recovery.use", "ok"),
        ("totp.verify", "accepted"),
        ("totp.verify", "invalid"),
        ("totp.confirm", "accepted"),
        ("totp.register", "pending"),
        ("user.create", "ok"),
    ]
    assert all(e["user_id"] == user["id"] for e in events)
    assert all(e["ip"] == "127.0.0.1" and e["actor"].startswith("apikey:") for e in events)
    assert all(e["at"].endswith("+00:00") for e in events)
    text = response.text
    for credential in [registration["secret"], registration["uri"], *recovery_codes, api.key]:
        assert credential not in text

    limited = api.request("GET", f"/api/v1/org/{api.org}/audit-events", params={"limit": 2})
    assert len(limited.json()["data"]) == 2


def test_audit_trail_stays_in_its_environment(server: Server) -> None:
    production, created = new_organization(server)
    with closing(production):
        user, _, _ = enroll(production)
        with closing(
            Api(server.base_url, created["api_keys"]["sandbox"], production.org)
        ) as sandbox:
            seen = sandbox.request("GET", f"/api/v1/org/{sandbox.org}/audit-events").json()["data"]
            assert all(e["user_id"] != user["id"] for e in seen)
            assert_problem(
                sandbox.request(
                    "GET", f"/api/v1/org/{sandbox.org}/audit-events", params={"limit": 0}
                ),
                422,
                "validation_error",
            )
        other, _ = new_organization(server)
        with closing(other), closing(Api(server.base_url, other.key, production.org)) as stray:
            assert_problem(
                stray.request("GET", f"/api/v1/org/{production.org}/audit-events"),
                403,
                "forbidden",
            )
