"""Users, their two-factor summary, per-application authenticators, the auth config and the
enrollment modes, through a live server on each engine."""

from __future__ import annotations

import functools
import operator
import subprocess
import time
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.e2e.test_api_errors import assert_problem, enroll, totp_code, wrong_code
from tests.server import Api, Server, new_organization
from tests.test_policy import SPEC_DEFAULTS


def oathtool(secret: str, *options: str) -> str:
    out = subprocess.run(
        ["oathtool", "-b", *options, secret], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def uri_params(uri: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(uri).query).items()}


def users_path(api: Api) -> str:
    return f"/api/v1/org/{api.org}/users"


def config_path(api: Api) -> str:
    return f"/api/v1/org/{api.org}/auth-config"


def two_factor(api: Api, user_id: str, **params: str) -> dict[str, Any]:
    response = api.request("GET", api.user_path(user_id), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json()["two_factor"])


# -- users -----------------------------------------------------------------------------------


def test_user_create_read_update_delete(api: Api) -> None:
    created = api.create_user(
        email="Bob@Example.TEST", username="bob", phone="+33 1 23 45 67 89", password="s3cret-pass"
    )
    assert created["email"] == "bob@example.test"
    assert (created["username"], created["phone"], created["status"]) == (
        "bob",
        "+33 1 23 45 67 89",
        "active",
    )
    assert created["has_password"] is True
    assert "password" not in created
    assert "password_hash" not in created
    assert created["two_factor"] == {
        "enabled": False,
        "totp_id": None,
        "status": None,
        "enrolled_at": None,
        "recovery_codes_remaining": 0,
        "drift_s": 0,
    }
    path = api.user_path(created["id"])
    assert api.request("GET", path).json() == created

    changed = api.request(
        "PATCH", path, json={"email": "Robert@Example.test", "status": "disabled"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["email"], body["status"], body["username"]) == (
        "robert@example.test",
        "disabled",
        "bob",
    )
    assert body["updated_at"] >= created["updated_at"]
    assert api.request("GET", path).json() == body
    assert api.request("PATCH", path, json={}).json()["email"] == "robert@example.test"
    no_password = api.create_user(username="nopass")
    assert no_password["has_password"] is False
    assert (
        api.request(
            "PATCH", api.user_path(no_password["id"]), json={"password": "now-it-has-one"}
        ).json()["has_password"]
        is True
    )

    deleted = api.request("DELETE", path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(api.request("GET", path), 404, "not_found")
    assert_problem(api.request("DELETE", path), 404, "not_found")
    assert_problem(api.request("PATCH", path, json={"status": "active"}), 404, "not_found")
    listed = api.request("GET", users_path(api)).json()
    assert [u["id"] for u in listed["data"]] == [no_password["id"]]
    # The email is free again.
    assert api.create_user(email="robert@example.test")["id"] != created["id"]


def test_a_user_cannot_be_left_without_any_identifier(api: Api) -> None:
    user = api.create_user(email="only@example.test")
    response = api.request("PATCH", api.user_path(user["id"]), json={"email": None})
    assert_problem(response, 422, "validation_error")
    assert api.request("GET", api.user_path(user["id"])).json()["email"] == "only@example.test"


def test_users_pagination(api: Api) -> None:
    created = [api.create_user(email=f"user{i}@example.test")["id"] for i in range(5)]
    pages = []
    for page in (1, 2, 3):
        response = api.request("GET", users_path(api), params={"page": page, "per_page": 2})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["page"], body["per_page"], body["total"]) == (page, 2, 5)
        pages.append([u["id"] for u in body["data"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(functools.reduce(operator.iadd, pages, [])) == sorted(created)
    beyond = api.request("GET", users_path(api), params={"page": 4, "per_page": 2}).json()
    assert beyond == {"data": [], "page": 4, "per_page": 2, "total": 5}
    default = api.request("GET", users_path(api)).json()
    assert (default["page"], default["per_page"], default["total"]) == (1, 20, 5)
    assert sorted(u["id"] for u in default["data"]) == sorted(created)


def test_two_factor_summary_through_the_lifecycle(api: Api) -> None:
    user = api.create_user()
    uid = user["id"]
    registration = api.register(uid)
    pending = two_factor(api, uid)
    assert pending["enabled"] is False
    assert pending["totp_id"] == registration["id"]
    assert pending["enrolled_at"] is None
    assert pending["recovery_codes_remaining"] == 0

    before = time.time()
    confirmed = api.confirm(uid, totp_code(registration))
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 5
    assert len(set(codes)) == 5
    active = two_factor(api, uid)
    assert active["enabled"] is True
    assert active["totp_id"] == registration["id"]
    assert active["recovery_codes_remaining"] == 5
    enrolled_at = active["enrolled_at"]
    assert isinstance(enrolled_at, str)
    assert enrolled_at[:4] == time.strftime("%Y", time.gmtime())
    assert before - 5 < _epoch(enrolled_at) < time.time() + 5

    # Recovery codes are tolerant of case, spaces and dashes.
    typed = codes[2].upper().replace("-", " ")
    used = api.request("POST", api.user_path(uid, "/recovery-codes/verify"), json={"code": typed})
    assert used.json() == {"valid": True, "recovery_codes_remaining": 4}
    assert two_factor(api, uid)["recovery_codes_remaining"] == 4

    regenerated = api.request("POST", api.user_path(uid, "/recovery-codes"))
    assert regenerated.status_code == 200, regenerated.text
    new_codes = regenerated.json()["recovery_codes"]
    assert len(new_codes) == 5
    assert not set(new_codes) & set(codes)
    assert two_factor(api, uid)["recovery_codes_remaining"] == 5

    reset = api.request("DELETE", api.user_path(uid, "/totp"), json={"reason": "lost phone"})
    assert reset.status_code == 204, reset.text
    assert two_factor(api, uid) == {
        "enabled": False,
        "totp_id": None,
        "status": None,
        "enrolled_at": None,
        "recovery_codes_remaining": 0,
        "drift_s": 0,
    }
    assert_problem(api.verify(uid, totp_code(registration, 1)), 404, "totp_not_enrolled")
    again_reset = api.request("DELETE", api.user_path(uid, "/totp"), params={"reason": "again"})
    assert_problem(again_reset, 404, "totp_not_enrolled")
    # Enrolling again gives a new secret; the old one and the old recovery codes are dead.
    again = api.register(uid)
    assert again["id"] != registration["id"]
    assert again["secret"] != registration["secret"]
    assert api.confirm(uid, totp_code(again)).status_code == 200
    assert_problem(api.verify(uid, totp_code(registration, 1)), 400, "invalid_code")
    old = api.request(
        "POST", api.user_path(uid, "/recovery-codes/verify"), json={"code": new_codes[0]}
    )
    assert_problem(old, 400, "recovery_code_invalid")


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_deleting_a_user_removes_the_authenticator(api: Api) -> None:
    user, registration, _ = enroll(api, email="gone@example.test")
    assert api.request("DELETE", api.user_path(user["id"])).status_code == 204
    assert_problem(api.verify(user["id"], totp_code(registration, 1)), 404, "not_found")
    again = api.create_user(email="gone@example.test")
    assert two_factor(api, again["id"])["enabled"] is False
    assert api.register(again["id"])["status"] == "pending"


# -- per application -------------------------------------------------------------------------


def test_application_query_picks_the_default_application(server: Server) -> None:
    production, created = new_organization(server)
    sandbox = Api(server.base_url, created["api_keys"]["sandbox"], production.org)
    with closing(production), closing(sandbox):
        for client, env in [(production, "production"), (sandbox, "sandbox")]:
            app = {"application": f"{client.org}-{env}"}
            user = client.create_user()
            registration = client.register(user["id"], **app)
            assert two_factor(client, user["id"])["totp_id"] == registration["id"]
            assert client.confirm(user["id"], totp_code(registration), **app).status_code == 200
            assert two_factor(client, user["id"], **app)["enabled"] is True
            assert two_factor(client, user["id"])["enabled"] is True
            assert client.verify(user["id"], totp_code(registration, 1)).json() == {"valid": True}
            reused = client.verify(user["id"], totp_code(registration, 1), **app)
            assert_problem(reused, 400, "code_reused")
            # The client of the other environment is unknown here.
            other = "sandbox" if env == "production" else "production"
            for response in [
                client.request(
                    "GET",
                    client.user_path(user["id"]),
                    params={"application": f"{client.org}-{other}"},
                ),
                client.verify(
                    user["id"], totp_code(registration, 1), application=f"{client.org}-{other}"
                ),
                client.verify(user["id"], totp_code(registration, 1), application="nope"),
            ]:
                assert_problem(response, 404, "not_found")
            reset = client.request(
                "DELETE", client.user_path(user["id"], "/totp"), params={**app, "reason": "test"}
            )
            assert reset.status_code == 204
            assert two_factor(client, user["id"])["enabled"] is False


# -- auth config -----------------------------------------------------------------------------


def test_auth_config_defaults(api: Api) -> None:
    response = api.request("GET", config_path(api))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    config = response.json()
    for section, fields in SPEC_DEFAULTS.items():
        assert config[section] == fields, section
    assert set(config["theme"]) >= {"title", "brand", "style_url", "logo_url"}


def test_auth_config_merge_patch_applies_to_new_enrollments_only(api: Api) -> None:
    old_user, old_registration, _ = enroll(api)
    patched = api.patch_config({"totp": {"algorithm": "SHA256", "digits": 8, "period": 60}})
    assert patched.status_code == 200, patched.text
    totp = patched.json()["totp"]
    assert (totp["algorithm"], totp["digits"], totp["period"]) == ("SHA256", 8, 60)
    assert totp["valid_past_tokens"] == 1
    assert totp["confirm_enrollment"] is True
    assert api.request("GET", config_path(api)).json() == patched.json()

    user = api.create_user(email="new@example.test")
    registration = api.register(user["id"])
    params = uri_params(registration["uri"])
    assert (params["algorithm"], params["digits"], params["period"]) == ("SHA256", "8", "60")
    assert params["secret"] == registration["secret"]
    sha256 = ("--totp=sha256", "-d", "8", "--time-step-size=60s")
    code = oathtool(registration["secret"], *sha256)
    assert len(code) == 8
    assert api.confirm(user["id"], code).status_code == 200
    following = oathtool(registration["secret"], *sha256, "-N", "+60 seconds")
    assert api.verify(user["id"], following).json() == {"valid": True}

    # The authenticator enrolled before keeps SHA1, 6 digits, 30 s.
    old_code = oathtool(old_registration["secret"], "--totp", "-N", "+30 seconds")
    assert len(old_code) == 6
    assert api.verify(old_user["id"], old_code).json() == {"valid": True}
    eight = oathtool(old_registration["secret"], *sha256, "-N", "+120 seconds")
    assert_problem(api.verify(old_user["id"], eight), 400, "invalid_code")

    # null resets one field to its default and leaves the others.
    reset = api.patch_config({"totp": {"digits": None}}).json()["totp"]
    assert (reset["algorithm"], reset["digits"], reset["period"]) == ("SHA256", 6, 60)
    whole = api.patch_config({"totp": None}).json()
    assert whole["totp"] == SPEC_DEFAULTS["totp"]


BAD_PATCHES: list[Any] = [
    {"totp": {"digits": "8"}},
    {"totp": {"digits": 9}},
    {"totp": {"digits": 5}},
    {"totp": {"digits": 7.5}},
    {"totp": {"period": 10}},
    {"totp": {"period": 121}},
    {"totp": {"algorithm": "MD5"}},
    {"totp": {"algorithm": "sha1"}},
    {"totp": {"active": "yes"}},
    {"totp": {"active": 1}},
    {"totp": {"max_failures": 0}},
    {"totp": {"valid_past_tokens": -1}},
    {"totp": {"issuer": "Evil:Corp"}},
    {"totp": {"issuer": ""}},
    {"totp": {"no_such_field": True}},
    {"totp": {"digits": 8, "no_such_field": True}},
    {"totp": 5},
    {"totp": [1, 2]},
    {"no_such_section": {}},
    {"recovery_codes": {"count": 0}},
    {"recovery_codes": {"count": 21}},
    {"recovery_codes": {"once_per_hours": -1}},
    {"delivery": {"webhook": {"endpoint": "ftp://example.test/"}}},
    {"delivery": {"webhook": {"timeout_ms": 500}}},
    {"theme": {"logo_url": "javascript:alert(1)"}},
    {"lock": {"enabled": "true"}},
    [],
    [{"totp": {"digits": 8}}],
    "totp",
    42,
    True,
    {
        "a": {
            "b": {
                "c": {
                    "d": {
                        "e": {
                            "f": {
                                "g": {
                                    "h": {
                                        "i": {
                                            "j": {
                                                "k": {
                                                    "l": {
                                                        "m": {"n": {"o": {"p": {"q": {"r": {}}}}}}
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    },
]


def test_bad_auth_config_patches_are_refused_and_change_nothing(api: Api) -> None:
    assert api.patch_config({"totp": {"digits": 7}}).status_code == 200
    before = api.request("GET", config_path(api)).json()
    for patch in BAD_PATCHES:
        response = api.request("PATCH", config_path(api), json=patch)
        assert_problem(response, 422, "validation_error")
    for raw in (b"", b"null", b"{not json", b'{"totp": {"digits": 8}'):
        response = api.request(
            "PATCH",
            config_path(api),
            content=raw,
            headers={"content-type": "application/merge-patch+json"},
        )
        assert_problem(response, 422, "validation_error")
    assert api.request("GET", config_path(api)).json() == before


def test_merge_patch_content_type_is_accepted(api: Api) -> None:
    response = api.request(
        "PATCH",
        config_path(api),
        content=b'{"recovery_codes": {"count": 8}}',
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["recovery_codes"] == {"count": 8, "once_per_hours": 24}
    _, _, codes = enroll(api)
    assert len(codes) == 8


# -- enrollment modes ------------------------------------------------------------------------


def test_enrollment_without_confirmation_is_active_at_once(api: Api) -> None:
    assert api.patch_config({"totp": {"confirm_enrollment": False}}).status_code == 200
    user = api.create_user()
    registration = api.register(user["id"])
    assert registration["status"] == "active"
    assert len(registration["recovery_codes"]) == 5
    summary = two_factor(api, user["id"])
    assert summary["enabled"] is True
    assert summary["recovery_codes_remaining"] == 5
    assert api.verify(user["id"], totp_code(registration)).json() == {"valid": True}
    assert_problem(
        api.confirm(user["id"], totp_code(registration, 1)), 409, "totp_already_enrolled"
    )
    used = api.request(
        "POST",
        api.user_path(user["id"], "/recovery-codes/verify"),
        json={"code": registration["recovery_codes"][0]},
    )
    assert used.json()["recovery_codes_remaining"] == 4


def test_with_confirmation_the_register_answer_has_no_recovery_codes(api: Api) -> None:
    user = api.create_user()
    registration = api.register(user["id"])
    assert registration["status"] == "pending"
    assert "recovery_codes" not in registration
    assert set(registration) == {"id", "status", "secret", "uri", "qr_svg"}


def test_re_registering_replaces_a_pending_authenticator(api: Api) -> None:
    user = api.create_user()
    first = api.register(user["id"])
    second = api.register(user["id"])
    assert second["id"] != first["id"]
    assert second["secret"] != first["secret"]
    assert two_factor(api, user["id"])["totp_id"] == second["id"]
    assert_problem(api.confirm(user["id"], totp_code(first)), 400, "invalid_code")
    assert api.confirm(user["id"], totp_code(second)).status_code == 200
    assert_problem(
        api.request("POST", api.user_path(user["id"], "/totp")), 409, "totp_already_enrolled"
    )
    assert two_factor(api, user["id"])["totp_id"] == second["id"]


def test_wrong_confirmation_codes_keep_the_authenticator_pending(api: Api) -> None:
    user = api.create_user()
    registration = api.register(user["id"])
    for _ in range(2):
        assert_problem(api.confirm(user["id"], wrong_code(registration)), 400, "invalid_code")
    assert two_factor(api, user["id"])["enabled"] is False
    assert api.confirm(user["id"], totp_code(registration)).status_code == 200
