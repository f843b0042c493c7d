"""The README walk-through, through a real server on each engine, with oathtool as the phone."""

from __future__ import annotations

import subprocess

from tests.server import Api


def oathtool(secret: str, *extra: str) -> str:
    out = subprocess.run(
        ["oathtool", "--totp", "-b", *extra, secret], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_register_confirm_verify(api: Api) -> None:
    user = api.create_user(email="Alice@Example.test", password="correct horse battery")
    assert user["email"] == "alice@example.test"
    assert user["two_factor"]["enabled"] is False

    registration = api.register(user["id"])
    assert registration["status"] == "pending"
    assert registration["uri"].startswith("otpauth://totp/")
    assert "<svg" in registration["qr_svg"]

    confirmed = api.confirm(user["id"], oathtool(registration["secret"]))
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 5

    # The code that confirmed is spent; the next time step's code is accepted once.
    assert api.verify(user["id"], oathtool(registration["secret"])).json()["code"] == "code_reused"
    next_code = oathtool(registration["secret"], "-N", "+30 seconds")
    first = api.verify(user["id"], next_code)
    assert first.status_code == 200, first.text
    assert first.json() == {"valid": True}
    assert api.verify(user["id"], next_code).json()["code"] == "code_reused"

    shown = api.request("GET", api.user_path(user["id"])).json()
    assert shown["two_factor"]["enabled"] is True
    assert shown["two_factor"]["totp_id"] == registration["id"]
    assert shown["two_factor"]["recovery_codes_remaining"] == 5
    assert registration["secret"] not in str(shown)


def test_problem_detail_follows_accept_language(api: Api) -> None:
    user = api.create_user()
    registration = api.register(user["id"])
    assert api.confirm(user["id"], oathtool(registration["secret"])).status_code == 200
    for language, detail in [
        ("es-ES,es;q=0.9", "El código no es válido."),
        ("fr", "Le code n'est pas valide."),
        ("de", "The code is not valid."),
    ]:
        response = api.request(
            "POST",
            api.user_path(user["id"], "/totp/verify"),
            json={"code": "not-a-code"},
            headers={"Accept-Language": language},
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_code"
        assert response.json()["detail"] == detail
