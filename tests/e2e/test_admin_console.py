"""The admin console at /admin, driven through its HTML forms with httpx (no JavaScript) on a
live server on each engine: signing in with an environment's API key, the users list with
its two-factor state, search and pagination, resetting an authenticator, the auth-config
form, and the session cookie and CSRF tokens that guard all of it."""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.test_api_errors import enroll
from tests.server import Api, Server, new_organization
from twostep.crypto import Keyring
from twostep.storage.tables import api_keys

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def console(server: Server) -> Iterator[httpx.Client]:
    """A browser without JavaScript: keeps cookies, does not follow redirects by itself."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def sign_in(console: httpx.Client, key: str) -> httpx.Response:
    form = console.get("/admin")
    assert form.status_code == 200
    return console.post("/admin/login", data={"api_key": key, "csrf": csrf_of(form)})


def signed_in(console: httpx.Client, api: Api) -> httpx.Client:
    response = sign_in(console, api.key)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin/users"
    return console


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def text_of(fragment: str) -> str:
    """The visible text of an HTML fragment, with its whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def user_rows(page: httpx.Response) -> dict[str, dict[str, str]]:
    """The users table: user id -> column name -> the cell's text."""
    rows: dict[str, dict[str, str]] = {}
    for user_id, body in re.findall(r'<tr data-user="([^"]+)">(.*?)</tr>', page.text, re.S):
        cells = re.findall(r'<td data-col="([a-z]+)">(.*?)</td>', body, re.S)
        rows[user_id] = {name: text_of(cell) for name, cell in cells}
    return rows


def admin_cookie(console: httpx.Client) -> str:
    value = console.cookies.get("twostep_admin", path="/admin")
    assert value is not None
    return value


def with_cookie(server: Server, value: str) -> httpx.Client:
    client = httpx.Client(base_url=server.base_url, timeout=30)
    client.cookies.set("twostep_admin", value, path="/admin")
    return client


def signature(server: Server, key_id: str, expiry: int) -> str:
    """What the server signs a session with (the test reads the server's own keyring)."""
    pepper = Keyring.load(server.data_dir / "secrets.json").pepper
    message = f"admin:{key_id}:{expiry}".encode()
    return hmac.new(pepper, message, hashlib.sha256).hexdigest()


def auth_config(api: Api) -> dict[str, Any]:
    response = api.request("GET", f"/api/v1/org/{api.org}/auth-config")
    assert response.status_code == 200, response.text
    return dict(response.json())


def config_form(page: httpx.Response) -> dict[str, str]:
    """The fields the config form would post as it is shown (checked boxes only)."""
    form: dict[str, str] = {"csrf": csrf_of(page)}
    for tag in re.findall(r"<input [^>]*>", page.text):
        name = re.search(r'name="([^"]+)"', tag)
        if name is None or name.group(1) == "csrf":
            continue
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                form[name.group(1)] = "on"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        form[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, selected in re.findall(
        r'<select [^>]*name="([^"]+)".*?<option value="([^"]+)" selected', page.text, re.S
    ):
        form[name] = selected
    for name, text in re.findall(
        r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page.text, re.S
    ):
        form[name] = html.unescape(text)
    return form


# -- signing in --------------------------------------------------------------------------------


def test_sign_in_with_an_environment_key_only(
    console: httpx.Client, api: Api, server: Server
) -> None:
    page = console.get("/admin")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<label for="api_key">' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    wrong = sign_in(console, "ts_prod_not-a-real-key")
    assert wrong.status_code == 401
    assert "This API key is not valid." in wrong.text
    assert "twostep_admin" not in console.cookies

    empty = console.post("/admin/login", data={"csrf": csrf_of(wrong)})
    assert empty.status_code == 401

    admin_key = sign_in(console, server.admin_key)
    assert admin_key.status_code == 403
    assert "This is a server-admin key." in admin_key.text
    assert "twostep_admin" not in console.cookies

    # Not signed in: the console's pages send the browser to the sign-in form.
    for path in ("/admin/users", "/admin/config", f"/admin/users/{'0' * 8}"):
        response = console.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/admin"), path

    signed_in(console, api)
    users = console.get("/admin/users")
    assert users.status_code == 200
    assert api.org.title() in users.text  # the organization's name, and its environment
    assert "Production" in users.text
    assert console.get("/admin").headers["location"] == "/admin/users"


def test_the_session_cookie_is_http_only_strict_and_holds_no_api_key(
    console: httpx.Client, api: Api
) -> None:
    response = sign_in(console, api.key)
    assert response.status_code == 303
    header = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in header.lower()
    assert "path=/admin" in header.lower()
    assert "max-age=3600" in header.lower()
    assert "secure" not in attributes  # the test server runs on http://
    assert api.key not in header
    key_id, expiry, mac = admin_cookie(console).split(".")
    assert re.fullmatch(r"[0-9a-f-]{36}", key_id)
    assert 3500 < int(expiry) - time.time() <= 3600
    assert re.fullmatch(r"[0-9a-f]{64}", mac)


def test_a_tampered_expired_or_unknown_session_is_refused(
    console: httpx.Client, api: Api, server: Server
) -> None:
    signed_in(console, api)
    cookie = admin_cookie(console)
    key_id, expiry, mac = cookie.split(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    later = int(expiry) + 86400
    past = int(time.time()) - 10
    forged = [
        f"{key_id}.{expiry}.{flipped}",  # a wrong signature
        f"{key_id}.{later}.{mac}",  # a longer life, same signature
        f"{key_id}.{past}.{signature(server, key_id, past)}",  # expired, truly signed
        f"{'1' * 36}.{expiry}.{signature(server, '1' * 36, int(expiry))}",  # no such key
        cookie.replace(".", ":"),
        api.key,
        "",
    ]
    for value in forged:
        with with_cookie(server, value) as other:
            response = other.get("/admin/users")
            assert response.status_code == 303, value
            assert response.headers["location"].startswith("/admin"), value
            assert response.headers["location"] != "/admin/users"
            refused = other.get("/admin/config")
            assert refused.status_code == 303, value
    # A well-signed, live cookie is what the server checks: the genuine one still works.
    with with_cookie(server, cookie) as genuine:
        assert genuine.get("/admin/users").status_code == 200
    # The same key id with a fresh expiry signed by the server's pepper is accepted: the
    # cookie is the signature over `admin:<key id>:<expiry>`, nothing more.
    fresh = int(time.time()) + 600
    with with_cookie(server, f"{key_id}.{fresh}.{signature(server, key_id, fresh)}") as made:
        assert made.get("/admin/users").status_code == 200


async def revoke(server: Server, key_id: str) -> None:
    url = server.env.get("TWOSTEP_DATABASE_URL") or (
        f"sqlite+aiosqlite:///{server.data_dir / 'twostep.db'}"
    )
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=time.time())
            )
    finally:
        await engine.dispose()


async def test_revoking_the_key_ends_its_sessions_at_once(server: Server) -> None:
    api = new_organization(server)[0]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as console:
        form = await console.get("/admin")
        signed = await console.post(
            "/admin/login", data={"api_key": api.key, "csrf": csrf_of(form)}
        )
        assert signed.status_code == 303
        assert (await console.get("/admin/users")).status_code == 200
        cookie = console.cookies.get("twostep_admin", path="/admin")
        assert cookie is not None
        await revoke(server, cookie.split(".")[0])
        ended = await console.get("/admin/users")
        assert (ended.status_code, ended.headers["location"]) == (303, "/admin?session=ended")
        page = await console.get("/admin?session=ended")
        assert "Your admin session has ended. Sign in again." in page.text
        assert "twostep_admin" not in console.cookies
    api.close()


def test_sign_out_ends_the_session(console: httpx.Client, api: Api) -> None:
    signed_in(console, api)
    page = console.get("/admin/users")
    refused = console.post("/admin/logout", data={"csrf": "0" * 64})
    assert refused.status_code == 403
    assert console.get("/admin/users").status_code == 200  # still signed in

    response = console.post("/admin/logout", data={"csrf": csrf_of(page)})
    assert (response.status_code, response.headers["location"]) == (303, "/admin?session=out")
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert "twostep_admin" not in console.cookies
    assert console.get("/admin/users").headers["location"] == "/admin"
    assert "You are signed out of the admin console." in console.get("/admin?session=out").text


# -- users -------------------------------------------------------------------------------------


def test_the_users_list_shows_each_users_two_factor_state(console: httpx.Client, api: Api) -> None:
    enrolled, registration, codes = enroll(api, username="enrolled-one")
    used = api.request(
        "POST", api.user_path(enrolled["id"], "/recovery-codes/verify"), json={"code": codes[0]}
    )
    assert used.status_code == 200, used.text
    pending = api.create_user(email=None, phone="+33 6 12 34 56 78")
    api.register(pending["id"])
    plain = api.create_user(username="plain-user", status="disabled")

    rows = user_rows(signed_in(console, api).get("/admin/users"))
    assert set(rows) == {enrolled["id"], pending["id"], plain["id"]}

    row = rows[enrolled["id"]]
    assert row["name"] == f"{enrolled['email']} enrolled-one"
    assert (row["status"], row["totp"], row["lock"]) == ("Active", "On", "Not paired")
    assert row["authenticator"] == registration["id"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["enrolled"])
    assert row["recovery"] == str(len(codes) - 1)

    assert rows[pending["id"]]["totp"] == "Pending"
    assert rows[pending["id"]]["name"] == "+33 6 12 34 56 78"
    assert (rows[plain["id"]]["totp"], rows[plain["id"]]["status"]) == ("Off", "Disabled")
    assert rows[plain["id"]]["recovery"] == ""

    details = console.get(f"/admin/users/{enrolled['id']}")
    assert details.status_code == 200
    assert registration["id"] in details.text
    assert "Reset two-factor" in details.text
    missing = console.get("/admin/users/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert "Unknown user." in missing.text


def test_an_environment_sees_only_its_own_users(console: httpx.Client, server: Server) -> None:
    production, created = new_organization(server)
    box = Api(server.base_url, created["api_keys"]["sandbox"], production.org)
    with closing(production), closing(box):
        mine = box.create_user(username="sandbox-user")
        theirs = production.create_user(username="production-user")
        response = sign_in(console, box.key)
        assert response.status_code == 303
        page = console.get("/admin/users")
        assert "Sandbox" in page.text
        assert set(user_rows(page)) == {mine["id"]}
        assert console.get(f"/admin/users/{theirs['id']}").status_code == 404


def test_search_and_pagination(console: httpx.Client, api: Api) -> None:
    created = [api.create_user(email=f"pager-{i:02d}@example.test") for i in range(25)]
    underscore = api.create_user(username="under_score", phone="+1 555 0100")
    percent = api.create_user(email="fifty%off@example.test")
    signed_in(console, api)

    first = console.get("/admin/users")
    assert len(user_rows(first)) == 20
    assert "Users: 27" in first.text
    assert "Page 1 of 2" in first.text
    assert 'href="/admin/users?page=2"' in first.text
    assert 'rel="prev"' not in first.text
    second = console.get("/admin/users", params={"page": 2})
    assert len(user_rows(second)) == 7
    assert 'href="/admin/users?page=1"' in second.text
    assert 'rel="next"' not in second.text
    every = set(user_rows(first)) | set(user_rows(second))
    assert every == {u["id"] for u in [*created, underscore, percent]}
    assert list(user_rows(first))[:3] == [u["id"] for u in created[:3]]  # oldest first

    found = console.get("/admin/users", params={"q": " PAGER-1 "})
    assert set(user_rows(found)) == {u["id"] for u in created[10:20]}
    assert "Users matching “PAGER-1”: 10" in found.text
    assert 'value="PAGER-1"' in found.text

    paged = console.get("/admin/users", params={"q": "pager", "page": 2})
    assert len(user_rows(paged)) == 5
    assert 'href="/admin/users?q=pager&amp;page=1"' in paged.text

    # LIKE wildcards are taken literally.
    assert set(user_rows(console.get("/admin/users", params={"q": "_"}))) == {underscore["id"]}
    assert set(user_rows(console.get("/admin/users", params={"q": "%"}))) == {percent["id"]}
    assert set(user_rows(console.get("/admin/users", params={"q": "555 01"}))) == {underscore["id"]}
    nothing = console.get("/admin/users", params={"q": "nobody-here"})
    assert user_rows(nothing) == {}
    assert "No users found." in nothing.text

    # A page past the end, or a page that is not a number, is not an error.
    assert user_rows(console.get("/admin/users", params={"page": 9})) == {}
    assert len(user_rows(console.get("/admin/users", params={"page": "x"}))) == 20


def test_reset_two_factor(console: httpx.Client, api: Api) -> None:
    user, _, _ = enroll(api)
    signed_in(console, api)
    details = console.get(f"/admin/users/{user['id']}")
    action = f"/admin/users/{user['id']}/reset-two-factor"

    assert console.post(action, data={"csrf": "f" * 64}).status_code == 403
    assert console.post(action, data={}).status_code == 403
    assert api.request("GET", api.user_path(user["id"])).json()["two_factor"]["enabled"] is True

    # A reset without a reason is refused, and the authenticator stays.
    bare = console.post(action, data={"csrf": csrf_of(details)})
    assert bare.headers["location"] == f"/admin/users/{user['id']}?error=reason_required"
    refused = console.get(bare.headers["location"])
    assert "Give a reason: it is kept in the audit trail." in refused.text
    assert api.request("GET", api.user_path(user["id"])).json()["two_factor"]["enabled"] is True

    response = console.post(action, data={"csrf": csrf_of(details), "reason": "lost phone"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/users/{user['id']}?done=reset"
    after = console.get(response.headers["location"])
    assert "Two-factor authentication was reset: the user must enroll again." in after.text
    assert "Reset two-factor" not in after.text

    two_factor = api.request("GET", api.user_path(user["id"])).json()["two_factor"]
    assert two_factor == {
        "enabled": False,
        "totp_id": None,
        "status": None,
        "enrolled_at": None,
        "recovery_codes_remaining": 0,
        "drift_s": 0,
    }
    events = api.request(
        "GET", f"/api/v1/org/{api.org}/audit-events", params={"user": user["id"]}
    ).json()["data"]
    reset = [event for event in events if event["action"] == "totp.reset"]
    assert len(reset) == 1
    key_id = admin_cookie(console).split(".")[0]
    assert reset[0]["actor"] == f"admin:{key_id}"
    assert (reset[0]["outcome"], reset[0]["ip"]) == ("ok", "127.0.0.1")
    assert reset[0]["details"] == {"reason": "lost phone"}

    again = console.post(action, data={"csrf": csrf_of(after), "reason": "again"})
    assert again.headers["location"] == f"/admin/users/{user['id']}?error=totp_not_enrolled"
    assert "No authenticator is enrolled." in console.get(again.headers["location"]).text


# -- auth config -------------------------------------------------------------------------------


def test_the_config_form_saves_valid_changes(console: httpx.Client, api: Api) -> None:
    signed_in(console, api)
    page = console.get("/admin/config")
    assert page.status_code == 200
    for field in ("totp-digits", "totp-algorithm", "delivery-webhook-headers", "lock-enabled"):
        assert f'<label for="{field}"' in page.text or f'for="{field}"' in page.text, field
    form = config_form(page)
    assert form["totp.digits"] == "6"
    assert form["totp.active"] == "on"
    assert "totp.enforce" not in form  # unchecked
    assert form["totp.algorithm"] == "SHA1"

    form.update(
        {
            "totp.issuer": "Acme Corp",
            "totp.algorithm": "SHA256",
            "totp.digits": "8",
            "totp.period": "60",
            "totp.valid_past_tokens": "2",
            "totp.valid_future_tokens": "0",
            "totp.max_failures": "7",
            "totp.enforce": "on",
            "recovery_codes.count": "10",
            "recovery_codes.once_per_hours": "12",
            "delivery.webhook.endpoint": "https://hooks.example.test/otp",
            "delivery.webhook.timeout_ms": "1500",
            "delivery.webhook.headers": "X-Api-Key: abc 123\r\n\r\nX-Tenant:acme\r\n",
            "theme.title": "Acme sign-in",
            "theme.brand": "Acme",
            "theme.logo_url": "/static/logo.svg",
            "lock.enabled": "on",
        }
    )
    del form["totp.confirm_enrollment"]  # unchecked: false
    saved = console.post("/admin/config", data=form)
    assert (saved.status_code, saved.headers["location"]) == (303, "/admin/config?done=saved")

    config = auth_config(api)
    assert config["totp"] == {
        "active": True,
        "issuer": "Acme Corp",
        "algorithm": "SHA256",
        "digits": 8,
        "period": 60,
        "valid_past_tokens": 2,
        "valid_future_tokens": 0,
        "confirm_enrollment": False,
        "enforce": True,
        "max_failures": 7,
    }
    assert config["recovery_codes"] == {"count": 10, "once_per_hours": 12}
    webhook = config["delivery"]["webhook"]
    assert webhook["endpoint"] == "https://hooks.example.test/otp"
    assert webhook["timeout_ms"] == 1500
    assert webhook["headers"] == {"X-Api-Key": "abc 123", "X-Tenant": "acme"}
    assert config["theme"] == {
        "title": "Acme sign-in",
        "brand": "Acme",
        "style_url": None,
        "logo_url": "/static/logo.svg",
    }
    assert config["lock"] == {"enabled": True}

    shown = console.get("/admin/config?done=saved")
    assert "The auth config is saved." in shown.text
    assert webhook["signing_key"] in shown.text  # read-only, shown once a webhook is set
    form = config_form(shown)
    assert form["delivery.webhook.headers"] == "X-Api-Key: abc 123\nX-Tenant: acme"
    assert form["totp.algorithm"] == "SHA256"
    assert "signing_key" not in " ".join(form)

    # Dropping a header removes it; emptying the endpoint removes the webhook; unchecking
    # switches off; emptying an optional text resets it.
    form["delivery.webhook.headers"] = "X-Tenant: acme"
    assert console.post("/admin/config", data=form).status_code == 303
    assert auth_config(api)["delivery"]["webhook"]["headers"] == {"X-Tenant": "acme"}
    form = config_form(console.get("/admin/config"))
    form.update({"delivery.webhook.endpoint": "", "totp.issuer": "", "theme.brand": ""})
    del form["totp.active"]
    assert console.post("/admin/config", data=form).status_code == 303
    config = auth_config(api)
    assert config["delivery"] == {"webhook": None}
    assert (config["totp"]["active"], config["totp"]["issuer"]) == (False, None)
    assert config["theme"]["brand"] is None
    assert config["totp"]["digits"] == 8  # untouched fields keep their values
    assert "Signing key" not in console.get("/admin/config").text


def test_the_config_form_shows_validation_messages_and_saves_nothing(
    console: httpx.Client, api: Api
) -> None:
    signed_in(console, api)
    before = auth_config(api)
    form = config_form(console.get("/admin/config"))
    form.update({"totp.digits": "9", "totp.period": "thirty", "theme.title": "Mine"})
    refused = console.post("/admin/config", data=form)
    assert refused.status_code == 422
    assert "The auth config was not saved" in refused.text
    digits = re.search(r'<ul class="field-errors" id="totp-digits-error">(.*?)</ul>', refused.text)
    assert digits is not None
    assert text_of(digits.group(1)) == "Must be at most 8."
    period = re.search(r'<ul class="field-errors" id="totp-period-error">(.*?)</ul>', refused.text)
    assert period is not None
    assert text_of(period.group(1)) == "Enter a whole number."
    assert 'aria-describedby="totp-digits-error"' in refused.text
    # The form comes back with what was typed.
    again = config_form(refused)
    assert (again["totp.digits"], again["totp.period"], again["theme.title"]) == (
        "9",
        "thirty",
        "Mine",
    )
    assert auth_config(api) == before

    form = config_form(console.get("/admin/config"))
    form.update(
        {
            "delivery.webhook.endpoint": "ftp://files.example.test/",
            "delivery.webhook.headers": "Host: evil.example.test\nno colon here",
        }
    )
    refused = console.post("/admin/config", data=form)
    assert refused.status_code == 422
    # A line the form cannot read, and what the config itself refuses, show together.
    assert "Write one header a line, as &#34;Name: value&#34;." in refused.text
    assert "Must be an http or https URL." in refused.text
    assert "This header is set by the server." in refused.text
    form["delivery.webhook.headers"] = "X-One: 1\nx-one: 2"
    form["delivery.webhook.endpoint"] = "https://hooks.example.test/"
    refused = console.post("/admin/config", data=form)
    assert refused.status_code == 422
    assert "Header names must be unique, ignoring case." in refused.text
    assert "Must be an http or https URL." not in refused.text
    assert auth_config(api) == before


def test_forms_without_the_csrf_token_are_refused(
    console: httpx.Client, api: Api, server: Server
) -> None:
    signed_in(console, api)
    before = auth_config(api)
    form = config_form(console.get("/admin/config"))
    form["totp.digits"] = "7"
    token = form.pop("csrf")
    assert console.post("/admin/config", data=form).status_code == 403
    refused = console.post("/admin/config", data={**form, "csrf": token[::-1]})
    assert refused.status_code == 403
    assert "This form has expired or did not come from this console." in refused.text
    assert auth_config(api) == before

    # The token belongs to one session: another session's token does not fit this one.
    key_id, expiry, _ = admin_cookie(console).split(".")
    later = int(expiry) + 1
    with with_cookie(server, f"{key_id}.{later}.{signature(server, key_id, later)}") as other:
        other_token = csrf_of(other.get("/admin/config"))
    assert other_token != token
    assert console.post("/admin/config", data={**form, "csrf": other_token}).status_code == 403
    assert console.post("/admin/config", data={**form, "csrf": token}).status_code == 303
    assert auth_config(api)["totp"]["digits"] == 7
