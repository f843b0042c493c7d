"""MIB LockServer's own translation dictionary, dropped in unchanged: each tag overrides the text
it names; its tags with no text here are skipped with one warning, never a refusal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from twostep import errors
from twostep.i18n import load_overrides
from twostep.web.texts import ALIASES, mib_tag

MIB_FR = """<?xml version="1.0" encoding="UTF-8"?>
<translations>
  <totp>
    <two_fa_field_tooltip>Saisissez le code de votre application</two_fa_field_tooltip>
    <two_fa_button_tooltip>Valider le code</two_fa_button_tooltip>
    <validateerror304>Code invalide</validateerror304>
    <validateerror305>Code déjà utilisé</validateerror305>
    <validateerror306>Trop d'essais, patientez</validateerror306>
    <validateerror307>Aucun authentificateur</validateerror307>
    <validateerror401>Non autorisé</validateerror401>
    <validateerror402>Interdit</validateerror402>
    <validateerror708>Double authentification désactivée</validateerror708>
    <validateerror999>Erreur inconnue</validateerror999>
    <two_fa_qr_tooltip>Scannez le QR code</two_fa_qr_tooltip>
  </totp>
</translations>
"""

EXPECTED = {
    "Enter the code shown by your authenticator app.": "Saisissez le code de votre application",
    "Verify": "Valider le code",
    errors.InvalidCode.default_msgid: "Code invalide",
    errors.CodeReused.default_msgid: "Code déjà utilisé",
    errors.LockedOut.default_msgid: "Trop d'essais, patientez",
    errors.TotpNotEnrolled.default_msgid: "Aucun authentificateur",
    errors.Unauthorized.default_msgid: "Non autorisé",
    errors.Forbidden.default_msgid: "Interdit",
    errors.OperationDisabled.default_msgid: "Double authentification désactivée",
}


def test_mib_dictionary_is_accepted_unchanged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "fr.xml").write_text(MIB_FR, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="twostep.i18n"):
        texts = load_overrides(tmp_path, ALIASES, tolerated=mib_tag)
    assert {msgid: texts.translate("fr", msgid) for msgid in EXPECTED} == EXPECTED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "totp.two_fa_qr_tooltip" in warnings[0]
    assert "totp.validateerror999" in warnings[0]


def test_a_tag_of_another_form_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "fr.xml").write_text(
        "<translations><totp><invalidcod>Code</invalidcod></totp></translations>",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="invalidcod"):
        load_overrides(tmp_path, ALIASES, tolerated=mib_tag)


def test_a_complete_dictionary_loads_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "es.json").write_text(
        '{"totp": {"validateerror304": "Código no válido"}}', encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING, logger="twostep.i18n"):
        texts = load_overrides(tmp_path, ALIASES, tolerated=mib_tag)
    assert texts.translate("es", errors.InvalidCode.default_msgid) == "Código no válido"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
