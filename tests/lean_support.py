"""Helpers for the Lean tests: the recorded REPL transcripts, a Lean project that plays one back, and
the real Lean project (from $VERILOOP_LEAN_PROJECT) for the tests marked `lean`."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.lean_replay_server import read_transcript
from verifiers.lean.project import LeanProject, find_project
from verifiers.lean.types import LeanUnavailable

SERVER = Path(__file__).resolve().parent / "lean_replay_server.py"
TRANSCRIPT_LEAN_VERSION = "leanprover/lean4:v4.33.0-rc2"


def transcripts(data: Path) -> list[Path]:
    """Every `X.in` of the REPL's test suite, Mathlib ones included."""
    return sorted((data / "lean_repl").rglob("*.in"))


def replies_of(commands: Path) -> Path | None:
    replies = commands.with_name(commands.name[: -len(".in")] + ".expected.out")
    return replies if replies.is_file() else None


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def replay_project(tmp: Path, commands: Path, *fault: str) -> tuple[LeanProject, Path]:
    """A Lean project whose `lake env <repl>` runs the transcript player in place of the REPL.

    `lake` here only does what `lake env CMD` does for the REPL: run CMD (the real one also sets
    LEAN_PATH). The REPL binary is the player, fed with `commands` and its recorded replies."""
    replies = replies_of(commands)
    assert replies is not None, f"{commands} has no recorded replies"
    root = tmp / "project"
    root.mkdir(parents=True, exist_ok=True)
    (root / "lakefile.toml").write_text('name = "replay"\n', encoding="utf-8")
    (root / "lean-toolchain").write_text(TRANSCRIPT_LEAN_VERSION + "\n", encoding="utf-8")
    lake = tmp / "bin" / "lake"
    _executable(lake, '#!/bin/sh\n[ "$1" = env ] && shift\nexec "$@"\n')
    repl_dir = tmp / "repl"
    (repl_dir / "lean-toolchain").parent.mkdir(parents=True, exist_ok=True)
    (repl_dir / "lean-toolchain").write_text(TRANSCRIPT_LEAN_VERSION + "\n", encoding="utf-8")
    arguments = " ".join(f"'{part}'" for part in (sys.executable, SERVER, commands, replies, *fault))
    _executable(repl_dir / ".lake" / "build" / "bin" / "repl", f"#!/bin/sh\nexec {arguments}\n")
    return LeanProject(root=root, lake=lake), repl_dir


def recorded(commands: Path) -> tuple[list[dict], list[str]]:
    return read_transcript(commands, replies_of(commands))


def real_lean_project() -> LeanProject:
    """The user's Lean project for the tests marked `lean`, or a skip saying how to provide one."""
    if not os.environ.get("VERILOOP_LEAN_PROJECT"):
        pytest.skip("needs Lean: set VERILOOP_LEAN_PROJECT to a Lean 4 project with Mathlib and the REPL built")
    try:
        return find_project()
    except LeanUnavailable as missing:
        pytest.skip(f"needs Lean: {missing}")
