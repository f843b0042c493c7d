"""The admin console's webhook pages: an environment's event endpoints and each one's delivery
log, read from a live server on each engine after a real delivery to a receiver."""

from __future__ import annotations

import html
import re
from contextlib import closing

import httpx

from tests.e2e.test_admin_console import sign_in, signed_in
from tests.e2e.test_api_errors import enroll, other_client
from tests.e2e.test_api_events import (
    Receiver,
    delivered_log,
    events_server,
    receiver,
    subscribe,
)
from tests.server import Server, new_organization

__all__ = ["events_server", "receiver"]  # fixtures this module uses, imported by name


def test_the_console_lists_endpoints_and_their_delivery_log(
    events_server: Server, receiver: Receiver
) -> None:
    api, created = new_organization(events_server)
    with (
        closing(api),
        httpx.Client(base_url=events_server.base_url, timeout=30) as console,
        httpx.Client(base_url=events_server.base_url, timeout=30) as sandbox_console,
    ):
        hook = subscribe(api, receiver.url, event_types=["totp.enrolled"])
        enroll(api)
        receiver.wait_for(1)
        log = delivered_log(api, hook["id"])
        assert [entry["status"] for entry in log] == ["delivered"]

        signed_in(console, api)
        listing = console.get("/admin/webhooks")
        assert listing.status_code == 200
        row = re.search(rf'<tr data-endpoint="{hook["id"]}">(.*?)</tr>', listing.text, re.S)
        assert row, listing.text
        assert receiver.url in html.unescape(row.group(1))
        assert "totp.enrolled" in row.group(1)

        page = console.get(f"/admin/webhooks/{hook['id']}")
        assert page.status_code == 200
        delivery = re.search(rf'<tr data-event="{log[0]["event_id"]}">(.*?)</tr>', page.text, re.S)
        assert delivery, page.text
        cells = dict(re.findall(r'data-col="(\w+)">(.*?)</td>', delivery.group(1), re.S))
        assert "totp.enrolled" in cells["event"]
        assert cells["status"].strip() == "delivered"
        assert cells["attempts"].strip() == "1"
        assert cells["answer"].strip().startswith("2")

        # Another environment's console neither lists nor opens it.
        sandbox = other_client(api, created["api_keys"]["sandbox"])
        with closing(sandbox):
            assert sign_in(sandbox_console, sandbox.key).status_code == 303
            assert hook["id"] not in sandbox_console.get("/admin/webhooks").text
            assert sandbox_console.get(f"/admin/webhooks/{hook['id']}").status_code == 404
