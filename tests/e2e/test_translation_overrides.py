"""Operator overrides through a live server (spec 7): the problem ``detail`` of a wrong code
is the operator's text for the locale it overrides and the catalogue's for the others; and a
server given a broken override file does not start, saying which file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.e2e.test_api_errors import assert_problem, enroll, totp_code, wrong_code
from tests.pg import free_port
from tests.server import TWOSTEP, Server, new_organization, running_server, server_env
from twostep import errors
from twostep.i18n import load_overrides, translate

SPANISH_INVALID = "Ese código no sirve, pruebe otra vez."
ENGLISH_DISABLED = "Two-step login is off for maintenance."

ES_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<translations>
  <totp>
    <invalidcode>{SPANISH_INVALID}</invalidcode>
  </totp>
</translations>
"""


def catalogue(locale: str, msgid: str) -> str:
    """The text this test process gives without overrides (it loads none)."""
    load_overrides(None, {})
    return translate(locale, msgid)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    texts = tmp_path_factory.mktemp("texts")
    (texts / "es.xml").write_text(ES_XML, encoding="utf-8")
    (texts / "en.json").write_text(
        json.dumps({"totp": {"operationdisabled": ENGLISH_DISABLED}}), encoding="utf-8"
    )
    with running_server(
        tmp_path_factory.mktemp("overrides-server"), TWOSTEP_TRANSLATIONS_DIR=str(texts)
    ) as running:
        yield running


def test_a_wrong_code_is_told_in_the_operators_words(server: Server) -> None:
    api, _ = new_organization(server)
    with closing(api):
        user, registration, _ = enroll(api)
        path = api.user_path(user["id"], "/totp/verify")

        def detail(language: str) -> str:
            response = api.request(
                "POST",
                path,
                json={"code": wrong_code(registration)},
                headers={"Accept-Language": language},
            )
            return str(assert_problem(response, 400, "invalid_code")["detail"])

        invalid = errors.InvalidCode.default_msgid
        assert detail("es-ES,es;q=0.9") == SPANISH_INVALID
        assert detail("fr") == catalogue("fr", invalid) != invalid
        assert detail("en") == invalid  # en.json overrides another text only
        # The right code still passes: overrides change words, nothing else.
        assert api.verify(user["id"], totp_code(registration, 1)).json() == {"valid": True}


def test_english_texts_can_be_overridden(server: Server) -> None:
    api, _ = new_organization(server)
    with closing(api):
        user, registration, _ = enroll(api)
        assert api.patch_config({"totp": {"active": False}}).status_code == 200
        path = api.user_path(user["id"], "/totp/verify")
        body = {"code": totp_code(registration)}
        english = api.request("POST", path, json=body, headers={"Accept-Language": "en"})
        assert assert_problem(english, 403, "operation_disabled")["detail"] == ENGLISH_DISABLED
        spanish = api.request("POST", path, json=body, headers={"Accept-Language": "es"})
        disabled = errors.OperationDisabled.default_msgid
        assert assert_problem(spanish, 403, "operation_disabled")["detail"] == catalogue(
            "es", disabled
        )


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("es.xml", "<translations><totp><invalidcode>x</totp></translations>", "not valid"),
        ("fr.json", '{"totp": {"invalidcod": "x"}}', "key 'totp.invalidcod'"),
    ],
    ids=["broken-xml", "unknown-key"],
)
def test_a_server_with_a_broken_override_file_does_not_start(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / name).write_text(content, encoding="utf-8")
    env = server_env(tmp_path / "data", None, TWOSTEP_TRANSLATIONS_DIR=str(texts))
    env["TWOSTEP_PORT"] = str(free_port())
    result = subprocess.run(
        [str(TWOSTEP), "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"ValueError: translation file {texts / name}: " in output, output
    assert says in output, output
