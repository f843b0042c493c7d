"""The webhook's signing key through a live server: shown to admins, read-only, per environment."""

from __future__ import annotations

from contextlib import closing

from tests.e2e.test_api_errors import other_client
from tests.server import Api, Server, new_organization

WEBHOOK = {
    "endpoint": "https://sms.example.test/hooks/totp",
    "timeout_ms": 1500,
    "headers": {"Authorization": "Bearer gateway-credential"},
}


def auth_config(api: Api) -> dict[str, object]:
    response = api.request("GET", f"/api/v1/org/{api.org}/auth-config")
    assert response.status_code == 200, response.text
    return dict(response.json())


def webhook_of(config: dict[str, object]) -> dict[str, object]:
    delivery = config["delivery"]
    assert isinstance(delivery, dict)
    webhook = delivery["webhook"]
    assert isinstance(webhook, dict)
    return webhook


def test_the_signing_key_is_shown_read_only_and_per_environment(server: Server) -> None:
    production, created = new_organization(server)
    with (
        closing(production),
        closing(other_client(production, created["api_keys"]["sandbox"])) as sandbox,
    ):
        assert auth_config(production)["delivery"] == {"webhook": None}

        patched = production.patch_config({"delivery": {"webhook": WEBHOOK}})
        assert patched.status_code == 200, patched.text
        key = webhook_of(patched.json())["signing_key"]
        assert isinstance(key, str)
        assert len(key) == 64
        assert int(key, 16) >= 0
        shown = auth_config(production)
        assert webhook_of(shown) == {**WEBHOOK, "signing_key": key}

        # A client sending back what it read (or only a key of its own) changes nothing.
        webhook_of(shown)["signing_key"] = "0" * 64
        assert production.patch_config(shown).json() == auth_config(production)
        again = production.patch_config({"delivery": {"webhook": {"signing_key": "mine"}}})
        assert again.status_code == 200, again.text
        assert webhook_of(again.json())["signing_key"] == key
        assert webhook_of(auth_config(production))["signing_key"] == key

        # The other environment of the same organization has a key of its own.
        assert sandbox.patch_config({"delivery": {"webhook": WEBHOOK}}).status_code == 200
        sandbox_key = webhook_of(auth_config(sandbox))["signing_key"]
        assert isinstance(sandbox_key, str)
        assert len(sandbox_key) == 64
        assert sandbox_key != key

        # Without a webhook there is no key to show.
        cleared = production.patch_config({"delivery": {"webhook": None}})
        assert cleared.json()["delivery"] == {"webhook": None}
        assert auth_config(production)["delivery"] == {"webhook": None}

    assert key not in server.logs()
    assert sandbox_key not in server.logs()
