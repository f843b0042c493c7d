"""The seam between journeys and OAuth: the import-linter contract that keeps journeys to
``oauth.signin`` names every other module of ``oauth/`` (a new one is forbidden too), and the
journey state keeps the request typed, reading rows of the old untyped shape."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import twostep.oauth
from twostep.journeys.context import JourneyState
from twostep.oauth.signin import AuthorizationRequest

SEAM = "journeys know an OAuth sign-in only through oauth.signin"


def test_the_journey_seam_contract_forbids_every_oauth_module_but_signin() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    (seam,) = [c for c in contracts if c["name"] == SEAM]
    modules = {
        f"twostep.oauth.{info.name}" for info in pkgutil.iter_modules(twostep.oauth.__path__)
    }
    assert set(seam["forbidden_modules"]) == modules - {"twostep.oauth.signin"}


def test_a_journey_row_written_before_the_request_had_a_type_still_reads() -> None:
    row = {
        "step": "Password",
        "client_id": "acme-production",
        "oauth": {
            "client_id": "acme-production",
            "redirect_uri": "https://app.example.test/callback",
            "scope": "openid",
            "state": "st-1",
            "nonce": None,
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
            "prompt": ["login"],
            "max_age": None,
            "acr_values": [],
            "login_hint": None,
        },
    }
    state = JourneyState.model_validate(row)
    assert state.authorization == AuthorizationRequest(
        client_id="acme-production",
        redirect_uri="https://app.example.test/callback",
        scope="openid",
        state="st-1",
        nonce=None,
        code_challenge="c" * 43,
        code_challenge_method="S256",
        prompt=("login",),
    )
    stored = state.model_dump(mode="json")
    assert "oauth" not in stored
    assert JourneyState.model_validate(stored) == state
