"""Files and folders written whole or not at all (`agent.files`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.files import folder_written_atomically


def test_a_folder_appears_whole_with_a_normal_mode(tmp_path: Path) -> None:
    out = tmp_path / "made"
    with folder_written_atomically(out) as staging:
        (staging / "a.txt").write_text("a")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "a"
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~_umask()
    assert [path.name for path in tmp_path.iterdir()] == ["made"]


def test_a_failed_write_leaves_nothing_and_keeps_what_it_would_replace(tmp_path: Path) -> None:
    out = tmp_path / "kept"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), folder_written_atomically(out, replace=True) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("interrupted")
    assert [path.name for path in out.iterdir()] == ["old.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["kept"]
    with folder_written_atomically(out, replace=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [path.name for path in out.iterdir()] == ["new.txt"]


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
