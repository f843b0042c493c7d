"""docs/configuration.md is what ``twostep settings-reference`` prints: no setting undocumented."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import Field

from tests.server import TWOSTEP
from twostep.settings import Settings
from twostep.settings_reference import reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_the_committed_reference_is_the_generated_one() -> None:
    printed = subprocess.run(
        [str(TWOSTEP), "settings-reference"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == reference()
    assert DOC.read_text() == printed, (
        "docs/configuration.md is stale: run `twostep settings-reference > docs/configuration.md`"
    )


def test_every_setting_has_a_row_with_its_variable_and_default() -> None:
    text = reference()
    for name in Settings.model_fields:
        assert f"| `{name}` | `TWOSTEP_{name.upper()}` |" in text
    assert "| `port` | `TWOSTEP_PORT` | integer, 1–65535 | `8000` |" in text


def test_a_setting_without_a_description_stops_the_generator() -> None:
    class Undocumented(Settings):
        surprise: int = Field(1)

    with pytest.raises(ValueError, match="surprise has no description"):
        reference(Undocumented)
