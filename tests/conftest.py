"""Shared fixtures: where the benchmark data and the repository's task suites are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "tasks"


def shared_data_dir() -> Path | None:
    """`../shared/data` beside the checkout (or $VERILOOP_SHARED_DATA), if it is there."""
    candidate = Path(os.environ.get("VERILOOP_SHARED_DATA") or REPO.parent / "shared" / "data")
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip("the shared benchmark data (../shared/data or $VERILOOP_SHARED_DATA) is not present")
    return found


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def eval_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-task eval run (program sources only): code2inv/1 (solved by Houdini) and code2inv/26 (refuted).
    Shared by the tests that read runs (view, export); they must not change it."""
    import shutil
    import subprocess
    import sys

    work = tmp_path_factory.mktemp("run")
    suite = work / "suite"
    suite.mkdir()
    for number in ("1", "26"):
        shutil.copy(TASKS / "code2inv" / f"{number}.yaml", suite)
    done = subprocess.run([sys.executable, "-m", "agent", "eval", str(suite), "--sources", "symbolic", "--runs-dir",
                           str(work / "runs")], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    return next((work / "runs").iterdir())
