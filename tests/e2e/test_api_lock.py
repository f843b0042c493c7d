"""Lock pairing (spec 3.13): while the owner keeps the lock closed, no code opens the account."""

from __future__ import annotations

from tests.e2e.test_api_errors import assert_problem, enroll, totp_code
from tests.server import Api


def lock_path(api: Api, user_id: str) -> str:
    return api.user_path(user_id, "/lock")


def test_lock_must_be_enabled_for_the_environment(api: Api) -> None:
    user = api.create_user()
    assert_problem(api.request("POST", lock_path(api, user["id"])), 403, "forbidden")
    assert api.patch_config({"lock": {"enabled": True}}).status_code == 200
    paired = api.request("POST", lock_path(api, user["id"]))
    assert paired.status_code == 201, paired.text
    assert paired.json()["lock"]["paired"] is True
    assert paired.json()["lock"]["closed"] is False


def test_a_closed_lock_refuses_even_the_right_code(api: Api) -> None:
    assert api.patch_config({"lock": {"enabled": True}}).status_code == 200
    user, registration, recovery_codes = enroll(api)
    assert api.request("POST", lock_path(api, user["id"])).status_code == 201
    assert_problem(api.request("POST", lock_path(api, user["id"])), 409, "conflict")

    closed = api.request("PATCH", lock_path(api, user["id"]), json={"closed": True})
    assert closed.status_code == 200, closed.text
    assert closed.json()["lock"]["closed"] is True
    assert_problem(api.verify(user["id"], totp_code(registration, 1)), 403, "account_locked")
    assert_problem(
        api.request(
            "POST",
            api.user_path(user["id"], "/recovery-codes/verify"),
            json={"code": recovery_codes[0]},
        ),
        403,
        "account_locked",
    )

    opened = api.request("PATCH", lock_path(api, user["id"]), json={"closed": False})
    assert opened.json()["lock"]["closed"] is False
    # The refused attempt spent nothing: the same code works once the lock is open.
    assert api.verify(user["id"], totp_code(registration, 1)).status_code == 200


def test_unpairing_removes_the_authenticator_and_recovery_codes(api: Api) -> None:
    assert api.patch_config({"lock": {"enabled": True}}).status_code == 200
    user, registration, _ = enroll(api)
    assert_problem(api.request("DELETE", lock_path(api, user["id"])), 404, "not_found")
    assert api.request("POST", lock_path(api, user["id"])).status_code == 201
    assert api.request("DELETE", lock_path(api, user["id"])).status_code == 204

    shown = api.request("GET", api.user_path(user["id"])).json()
    assert shown["lock"] == {"paired": False, "closed": False, "paired_at": None}
    assert shown["two_factor"]["enabled"] is False
    assert shown["two_factor"]["recovery_codes_remaining"] == 0
    assert_problem(api.verify(user["id"], totp_code(registration, 1)), 404, "totp_not_enrolled")
    events = api.request(
        "GET", f"/api/v1/org/{api.org}/audit-events", params={"user": user["id"], "limit": 1}
    ).json()["data"]
    assert events[0]["action"] == "lock.unpair"
    assert events[0]["details"] == {"authenticators_removed": 1}


def test_lock_requests_are_validated(api: Api) -> None:
    assert api.patch_config({"lock": {"enabled": True}}).status_code == 200
    user = api.create_user()
    assert_problem(
        api.request("PATCH", lock_path(api, user["id"]), json={"closed": True}), 404, "not_found"
    )
    for body in [{"closed": "yes"}, {}, {"closed": True, "extra": 1}, []]:
        assert_problem(
            api.request("PATCH", lock_path(api, user["id"]), json=body), 422, "validation_error"
        )
    assert_problem(api.request("POST", lock_path(api, "no-such-user")), 404, "not_found")
