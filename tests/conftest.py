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
