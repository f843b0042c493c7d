"""OAuth 2.0 / OpenID Connect through real parts: Chromium signs the user in on the hosted
pages, Authlib's AsyncOAuth2Client is the relying party, and the ID token is checked against
the JWKS the way an OIDC client library checks it (Authlib's CodeIDToken claims)."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.async_api import Browser, Page, expect

from tests.e2e.browser import new_page, oathtool, read_qr, shoot
from tests.e2e.test_api_errors import totp_code
from tests.pg import free_port
from tests.server import Api, Server, new_organization

PASSWORD = "correct horse battery staple"
# The relying party's callback: a real HTTP server on 127.0.0.1 (see ``callback``).
CALLBACK_PORT = free_port()
REDIRECT = f"http://127.0.0.1:{CALLBACK_PORT}/callback"
ACR_MFA = "urn:twostep:acr:mfa"


class Callback(BaseHTTPRequestHandler):
    """The application's redirect URI: it answers a short page and keeps what it was sent."""

    landed: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/callback"):
            Callback.landed.append(f"http://127.0.0.1:{CALLBACK_PORT}{self.path}")
        body = b"back at the application"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module", autouse=True)
def callback() -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", CALLBACK_PORT), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def parties() -> AsyncIterator[list[RelyingParty]]:
    """The relying parties a test makes; their HTTP clients are closed after it."""
    made: list[RelyingParty] = []
    yield made
    for party in made:
        await party.client.aclose()


@pytest.fixture
def site(sqlite_server: Server) -> Server:
    return sqlite_server


@pytest.fixture
def org(site: Server) -> Iterator[Api]:
    api = new_organization(site)[0]
    # Codes a test types are later periods than the last (replay is refused): accept a few
    # periods ahead so that the test need not wait for the clock.
    assert api.patch_config({"totp": {"valid_future_tokens": 5}}).status_code == 200
    yield api
    api.close()


def register_application(api: Api, **fields: Any) -> dict[str, Any]:
    fields.setdefault("redirect_uris", [REDIRECT])
    response = api.request("POST", f"/api/v1/org/{api.org}/applications", json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def enrolled_for(api: Api, user_id: str, client_id: str) -> str:
    """A TOTP authenticator of the user for this application; returns its secret."""
    registration = api.register(user_id, application=client_id)
    assert api.confirm(user_id, totp_code(registration), application=client_id).status_code == 200
    return str(registration["secret"])


class RelyingParty:
    """An application using Twostep, written with Authlib as its developers would."""

    def __init__(self, site: Server, client_id: str, scope: str = "openid email profile") -> None:
        self.site = site
        self.client = AsyncOAuth2Client(
            client_id=client_id,
            redirect_uri=REDIRECT,
            scope=scope,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
        self.verifier = generate_token(48)
        self.nonce = generate_token(20)

    async def discovery(self) -> dict[str, Any]:
        response = await self.client.request(
            "GET", f"{self.site.base_url}/.well-known/openid-configuration", withhold_token=True
        )
        return dict(response.json())

    async def authorization_url(self, **extra: str) -> tuple[str, str]:
        config = await self.discovery()
        url, state = self.client.create_authorization_url(
            config["authorization_endpoint"], code_verifier=self.verifier, nonce=self.nonce, **extra
        )
        return url, state

    async def exchange(self, callback: str) -> dict[str, Any]:
        config = await self.discovery()
        token = await self.client.fetch_token(
            config["token_endpoint"], authorization_response=callback, code_verifier=self.verifier
        )
        return dict(token)

    async def id_token_claims(self, token: dict[str, Any]) -> CodeIDToken:
        """Signature against the JWKS, then iss, aud, exp, iat, nonce, at_hash, auth_time."""
        config = await self.discovery()
        keys = KeySet.import_key_set(
            (await self.client.request("GET", config["jwks_uri"], withhold_token=True)).json()
        )
        decoded = jwt.decode(
            token["id_token"], keys, algorithms=config["id_token_signing_alg_values_supported"]
        )
        claims = CodeIDToken(
            dict(decoded.claims),
            dict(decoded.header),
            options={
                "iss": {"essential": True, "value": config["issuer"]},
                "aud": {"essential": True, "value": self.client.client_id},
                "nonce": {"value": self.nonce},
            },
            params={"nonce": self.nonce, "access_token": token["access_token"]},
        )
        claims.validate(leeway=60)
        return claims


async def follow_to_callback(page: Page, url: str, answer: Any) -> str:
    """Open the authorization URL and let ``answer(page)`` sign in; the callback URL it lands on."""
    await page.goto(url)
    await answer(page)
    await expect(page.locator("body")).to_have_text("back at the application")
    assert page.url == Callback.landed[-1]
    return page.url


async def password(page: Page, email: str) -> None:
    await page.get_by_label("Email or username").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Continue").click()


async def code(page: Page, value: str) -> None:
    await page.locator("#code").fill(value)
    await page.locator("form:not(.alternative) button[type=submit]").click()


async def test_a_third_party_application_signs_a_user_in_with_totp(
    browser: Browser, site: Server, org: Api, parties: list[RelyingParty]
) -> None:
    register_application(
        org, client_id=f"shop-{secrets.token_hex(3)}", name="The Shop", first_party=False
    )
    shop = org.request("GET", f"/api/v1/org/{org.org}/applications").json()["data"][-1]
    user = org.create_user(password=PASSWORD, username="ann")
    secret = enrolled_for(org, user["id"], shop["client_id"])
    rp = RelyingParty(site, shop["client_id"])
    parties.append(rp)
    url, state = await rp.authorization_url(login_hint=user["email"])
    page = await new_page(browser)

    async def sign_in(page: Page) -> None:
        await expect(page.get_by_label("Email or username")).to_have_value(user["email"])
        await password(page, user["email"])
        await expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        await code(page, oathtool(secret, 1))
        await expect(page.get_by_role("heading", name="Allow access?")).to_be_visible()
        await expect(page.get_by_text("The Shop wants to sign you in and read:")).to_be_visible()
        await shoot(page, "oauth-consent")
        await page.get_by_role("button", name="Allow").click()

    plain = httpx.AsyncClient(timeout=30)  # raw calls, with exactly the headers given
    callback = await follow_to_callback(page, url, sign_in)
    query = parse_qs(urlsplit(callback).query)
    assert query["state"] == [state]
    token = await rp.exchange(callback)
    assert token["token_type"].lower() == "bearer"
    claims = await rp.id_token_claims(token)
    assert claims["sub"] == user["id"]
    assert "otp" in claims["amr"]
    assert "pwd" in claims["amr"]
    assert claims["acr"] == ACR_MFA
    assert claims["email"] == user["email"]
    first_auth_time = claims["auth_time"]

    info = await plain.get(
        f"{site.base_url}/oauth/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert info.status_code == 200
    assert info.json()["sub"] == user["id"]
    assert info.json()["preferred_username"] == "ann"

    # The code is single use: a replay is refused, and revokes what the code gave.
    replay = await plain.post(
        f"{site.base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
            "client_id": shop["client_id"],
            "code_verifier": rp.verifier,
        },
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    revoked = await plain.get(
        f"{site.base_url}/oauth/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert revoked.status_code == 401

    # Step-up: max_age=0 asks for a fresh code inside the live session, without the password.
    rp2 = RelyingParty(site, shop["client_id"])
    parties.append(rp2)
    url, _ = await rp2.authorization_url(max_age="0")
    await asyncio.sleep(1)  # auth_time has a resolution of a second

    async def fresh_code(page: Page) -> None:
        await expect(
            page.get_by_label("Enter the code shown by your authenticator app.")
        ).to_be_visible()
        assert await page.get_by_label("Password").count() == 0
        await code(page, oathtool(secret, 2))
        await page.get_by_role("button", name="Allow").click()

    token2 = await rp2.exchange(await follow_to_callback(page, url, fresh_code))
    claims2 = await rp2.id_token_claims(token2)
    assert claims2["auth_time"] > first_auth_time

    # Refresh tokens rotate; presenting a spent one revokes the whole family.
    config = await rp2.discovery()
    refreshed = await rp2.client.refresh_token(
        config["token_endpoint"], refresh_token=token2["refresh_token"]
    )
    assert refreshed["refresh_token"] != token2["refresh_token"]
    reuse = await plain.post(
        config["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": token2["refresh_token"],
            "client_id": shop["client_id"],
        },
    )
    assert reuse.json()["error"] == "invalid_grant"
    after = await plain.post(
        config["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": shop["client_id"],
        },
    )
    assert after.json()["error"] == "invalid_grant"
    await plain.aclose()


async def test_single_sign_on_and_acr_values(
    browser: Browser, site: Server, org: Api, parties: list[RelyingParty], tmp_path: Path
) -> None:
    client_id = f"app-{secrets.token_hex(3)}"
    register_application(org, client_id=client_id)  # first party: no consent page
    user = org.create_user(password=PASSWORD)
    page = await new_page(browser)
    # Signed in on the hosted pages with the password (no authenticator anywhere yet).
    await page.goto(f"{site.base_url}/auth/login?org={org.org}")
    await password(page, user["email"])
    await expect(page.get_by_text("You are signed in.")).to_be_visible()

    async def nothing(page: Page) -> None:
        return None

    rp = RelyingParty(site, client_id)
    parties.append(rp)
    url, _ = await rp.authorization_url()
    claims = await rp.id_token_claims(
        await rp.exchange(await follow_to_callback(page, url, nothing))
    )
    assert claims["amr"] == ["pwd"]  # the session was enough: single sign-on, no page at all
    assert claims["acr"] == "urn:twostep:acr:pwd"

    # The application asks for a second factor: the user enrolls one, then and there.
    rp = RelyingParty(site, client_id)
    parties.append(rp)
    url, _ = await rp.authorization_url(acr_values=ACR_MFA)
    secrets_seen: list[str] = []

    async def enroll_now(page: Page) -> None:
        await expect(
            page.get_by_role("heading", name="Set up two-factor authentication")
        ).to_be_visible()
        uri = await read_qr(page, tmp_path)
        secrets_seen.append(parse_qs(urlsplit(uri).query)["secret"][0])
        await code(page, oathtool(secrets_seen[0]))
        await page.get_by_label("I have saved my recovery codes").check()
        await page.get_by_role("button", name="Continue").click()

    claims = await rp.id_token_claims(
        await rp.exchange(await follow_to_callback(page, url, enroll_now))
    )
    assert claims["acr"] == ACR_MFA
    assert "otp" in claims["amr"]

    # The session now holds the second factor: the next sign-in is single sign-on again.
    rp = RelyingParty(site, client_id)
    parties.append(rp)
    url, _ = await rp.authorization_url(acr_values=ACR_MFA)
    claims = await rp.id_token_claims(
        await rp.exchange(await follow_to_callback(page, url, nothing))
    )
    assert "otp" in claims["amr"]


async def test_the_password_alone_signs_in_to_no_application_of_the_environment(
    browser: Browser, site: Server, org: Api, parties: list[RelyingParty]
) -> None:
    client_id = f"app-{secrets.token_hex(3)}"
    register_application(org, client_id=client_id)
    user = org.create_user(password=PASSWORD)
    secret = enrolled_for(org, user["id"], client_id)  # an authenticator of this application
    page = await new_page(browser)
    await page.goto(f"{site.base_url}/auth/login?org={org.org}")
    # The default application has none of its own: the user's one is asked (spec 3b.1).
    await password(page, user["email"])
    await expect(
        page.get_by_label("Enter the code shown by your authenticator app.")
    ).to_be_visible()
    await code(page, oathtool(secret, 1))
    await expect(page.get_by_text("You are signed in.")).to_be_visible()

    rp = RelyingParty(site, client_id)
    parties.append(rp)
    url, _ = await rp.authorization_url()

    async def nothing(page: Page) -> None:
        return None

    # The session proved the second factor: single sign-on, with its amr.
    claims = await rp.id_token_claims(
        await rp.exchange(await follow_to_callback(page, url, nothing))
    )
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["acr"] == ACR_MFA


async def test_refusals(site: Server, org: Api, parties: list[RelyingParty]) -> None:
    client_id = f"app-{secrets.token_hex(3)}"
    register_application(org, client_id=client_id)
    rp = RelyingParty(site, client_id)
    parties.append(rp)
    url, state = await rp.authorization_url()
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as http:
        wrong_uri = await http.get(url.replace(f"127.0.0.1%3A{CALLBACK_PORT}", "127.0.0.1%3A1"))
        assert wrong_uri.status_code == 400  # told on a page, never redirected
        assert "location" not in wrong_uri.headers
        prefix = await http.get(url.replace("%2Fcallback", "%2Fcallback%2Fextra"))
        assert prefix.status_code == 400
        no_pkce = await http.get(url.split("&code_challenge")[0] + f"&state={state}")
        assert no_pkce.status_code == 303
        back = parse_qs(urlsplit(no_pkce.headers["location"]).query)
        assert back["error"] == ["invalid_request"]
        assert back["state"] == [state]
        unknown = await http.get(url.replace(f"client_id={client_id}", "client_id=nobody"))
        assert unknown.status_code == 400
        silent = await http.get(url + "&prompt=none")
        assert parse_qs(urlsplit(silent.headers["location"]).query)["error"] == ["login_required"]


async def test_confidential_clients_discovery_and_key_rotation(site: Server, org: Api) -> None:
    created = register_application(
        org,
        client_id=f"backend-{secrets.token_hex(3)}",
        secret_required=True,
        grant_types=["client_credentials"],
        redirect_uris=[],
    )
    client_id, secret = created["client_id"], created["client_secret"]
    async with httpx.AsyncClient(base_url=site.base_url, timeout=30) as http:
        config = (await http.get("/.well-known/openid-configuration")).json()
        # What an OIDC client library checks of discovery (OIDC Discovery 1.0, section 3).
        assert config["issuer"] == site.base_url
        for endpoint in (
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
        ):
            assert config[endpoint].startswith(config["issuer"] + "/")
        assert "code" in config["response_types_supported"]
        assert config["code_challenge_methods_supported"] == ["S256"]
        assert "openid" in config["scopes_supported"]

        wrong = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "nope")
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        issued = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()
        assert "refresh_token" not in token
        assert "id_token" not in token
        first_kid = jwt.decode(
            token["access_token"],
            KeySet.import_key_set((await http.get(config["jwks_uri"])).json()),
        ).header["kid"]

        active = await http.post(
            "/oauth/introspect", data={"token": token["access_token"]}, auth=(client_id, secret)
        )
        assert active.json()["active"] is True
        assert active.json()["client_id"] == client_id

        # A new signing key: new tokens use it, the old key stays published for the old ones.
        rotated = site.cli("keys", "rotate-signing", "--publish-for", "3600")
        assert "new signing key" in rotated.stdout
        again = (
            await http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
        ).json()
        keys = KeySet.import_key_set((await http.get(config["jwks_uri"])).json())
        assert jwt.decode(again["access_token"], keys).header["kid"] != first_kid
        assert jwt.decode(token["access_token"], keys).header["kid"] == first_kid

        assert (
            await http.post(
                "/oauth/revoke", data={"token": token["access_token"]}, auth=(client_id, secret)
            )
        ).status_code == 200
        inactive = await http.post(
            "/oauth/introspect", data={"token": token["access_token"]}, auth=(client_id, secret)
        )
        assert inactive.json() == {"active": False}


async def test_hostile_requests_get_oauth_errors_never_a_5xx(site: Server, org: Api) -> None:
    client_id = f"app-{secrets.token_hex(3)}"
    register_application(org, client_id=client_id)
    nasty = ["\x00", "a" * 5000, "😀", "' OR 1=1", "%00", "\r\nX: y", ""]
    async with httpx.AsyncClient(
        base_url=site.base_url, timeout=30, follow_redirects=False
    ) as http:
        for value in nasty:
            for form in (
                {"grant_type": value},
                {
                    "grant_type": "authorization_code",
                    "client_id": client_id,
                    "code": value,
                    "redirect_uri": REDIRECT,
                    "code_verifier": value,
                },
                {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": value},
                {"grant_type": "client_credentials", "client_id": value, "client_secret": value},
            ):
                answer = await http.post("/oauth/token", data=form)
                assert 400 <= answer.status_code < 500, (form, answer.text)
                assert "error" in answer.json()
            for path in ("/oauth/revoke", "/oauth/introspect"):
                answer = await http.post(path, data={"token": value, "client_id": client_id})
                assert 400 <= answer.status_code < 500 or answer.status_code == 200
            info = await http.get(
                "/oauth/userinfo",
                headers={"Authorization": f"Bearer x{value.encode('utf-8', 'replace').hex()}"},
            )
            assert info.status_code == 401
            query = {
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "state": value,
                "nonce": value,
                "scope": value,
                "code_challenge": value,
                "code_challenge_method": "S256",
                "max_age": value,
                "prompt": value,
            }
            answer = await http.get("/oauth/authorize", params=query)
            assert answer.status_code < 500, answer.text
        assert (
            await http.post("/oauth/token", json={"grant_type": "client_credentials"})
        ).status_code == 400
        repeated = await http.post(
            "/oauth/token",
            content=b"grant_type=refresh_token&grant_type=refresh_token",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert repeated.json()["error"] == "invalid_request"


async def test_denying_consent_goes_back_with_access_denied(
    browser: Browser, site: Server, org: Api, parties: list[RelyingParty]
) -> None:
    client_id = f"third-{secrets.token_hex(3)}"
    register_application(org, client_id=client_id, name="Elsewhere", first_party=False)
    user = org.create_user(password=PASSWORD)
    rp = RelyingParty(site, client_id)
    parties.append(rp)
    url, state = await rp.authorization_url()
    page = await new_page(browser)

    async def deny(page: Page) -> None:
        await password(page, user["email"])
        await page.get_by_role("button", name="Deny").click()

    back = parse_qs(urlsplit(await follow_to_callback(page, url, deny)).query)
    assert back["error"] == ["access_denied"]
    assert back["state"] == [state]
    assert "code" not in back
