"""Where worker processes keep their samples: a fresh directory only when there are several."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from twostep.services.metrics import MULTIPROC_ENV, multiprocess_dir


@pytest.fixture(autouse=True)
def no_operator_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)


def test_one_worker_needs_no_directory() -> None:
    with multiprocess_dir(1) as directory:
        assert directory is None
        assert MULTIPROC_ENV not in os.environ


def test_several_workers_get_a_fresh_private_directory_removed_after() -> None:
    with multiprocess_dir(2) as directory:
        assert directory is not None
        assert os.environ[MULTIPROC_ENV] == str(directory)
        assert directory.is_dir()
        assert list(directory.iterdir()) == []
        assert directory.stat().st_mode & 0o077 == 0  # no other user reads the samples
        (directory / "counter_1.db").write_bytes(b"")
    assert not directory.exists()
    assert MULTIPROC_ENV not in os.environ


def test_a_directory_the_operator_names_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    (tmp_path / "counter_1.db").write_bytes(b"")
    with multiprocess_dir(4) as directory:
        assert directory == tmp_path
    assert os.environ[MULTIPROC_ENV] == str(tmp_path)
    assert (tmp_path / "counter_1.db").exists()
