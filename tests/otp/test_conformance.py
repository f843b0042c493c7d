"""docs/conformance.md is what `make conformance` writes today: regenerated and compared."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_published_conformance_matrix_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "conformance.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    assert "**NO**" not in text  # every implementation agrees on every row


def test_conformance_check_notices_a_stale_file(tmp_path: Path) -> None:
    script = (ROOT / "scripts" / "conformance.py").read_text(encoding="utf-8")
    stale = tmp_path / "conformance.md"
    stale.write_text("# Conformance\n\nold\n", encoding="utf-8")
    copy = tmp_path / "conformance.py"
    copy.write_text(script.replace("OUTPUT = ", f"OUTPUT = Path({str(stale)!r})  # ", 1))
    result = subprocess.run(
        [sys.executable, str(copy), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "not current" in result.stderr
