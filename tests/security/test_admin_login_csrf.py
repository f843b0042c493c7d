"""Login CSRF on /admin/login: another site cannot sign a victim's browser into the attacker's
console session. The sign-in form carries a token bound to a pre-session cookie; a post without
it, or with another browser's, is refused with a 403 page and sets no session cookie."""

from __future__ import annotations

import httpx

from tests.e2e.test_admin_console import csrf_of, sign_in
from tests.server import Api, Server


def test_a_forged_sign_in_is_refused_and_sets_no_cookie(api: Api, server: Server) -> None:
    with (
        httpx.Client(base_url=server.base_url, timeout=30) as victim,
        httpx.Client(base_url=server.base_url, timeout=30) as attacker,
    ):
        # What an attacker's page makes the victim's browser post: its own key, no token.
        forged = victim.post("/admin/login", data={"api_key": api.key})
        assert forged.status_code == 403, forged.text
        assert "did not come from this console" in forged.text
        assert "twostep_admin" not in victim.cookies
        assert "twostep_admin=" not in forged.headers.get("set-cookie", "")

        # The attacker's own, valid token, posted by the victim's browser, is no better.
        attackers_token = csrf_of(attacker.get("/admin"))
        assert victim.get("/admin").status_code == 200  # the victim has a pre-session too
        stolen = victim.post("/admin/login", data={"api_key": api.key, "csrf": attackers_token})
        assert stolen.status_code == 403
        assert "twostep_admin" not in victim.cookies

        # A token with no pre-session cookie at all.
        bare = httpx.post(
            f"{server.base_url}/admin/login", data={"api_key": api.key, "csrf": attackers_token}
        )
        assert bare.status_code == 403
        assert "twostep_admin=" not in bare.headers.get("set-cookie", "")

        # The real form, in one browser, still signs in.
        signed = sign_in(attacker, api.key)
        assert signed.status_code == 303, signed.text
        assert attacker.cookies.get("twostep_admin", path="/admin")
        assert attacker.get("/admin/users").status_code == 200
