"""The LeanDojo driver (optional extra `dojo`): goal splitting, result mapping, and a real session.

LeanDojo is not installed here (it pulls in Ray and needs a Lean toolchain and the network to trace a
repository), so the tests that need it are skipped, saying why.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from agent.tasks import load_task
from verifiers.lean.dojo import DojoDriver, convert_result, split_goals
from verifiers.lean.types import LeanError, LeanUnavailable, ProofFinished, TacticState

HAS_DOJO = importlib.util.find_spec("lean_dojo") is not None
NO_DOJO = "LeanDojo is not installed (optional extra: pip install 'veriloop[dojo]')"
TASK = Path(__file__).resolve().parent.parent / "tasks" / "minif2f" / "valid" / "mathd_numbertheory_101.yaml"


def test_a_pretty_printed_state_splits_into_goals() -> None:
    pp = "case inl\nx : ℕ\nh : x > 0\n⊢ x ≥ 1\n\ncase inr\n⊢ True"
    assert split_goals(pp) == ("case inl\nx : ℕ\nh : x > 0\n⊢ x ≥ 1", "case inr\n⊢ True")
    assert split_goals("⊢ 1 = 1") == ("⊢ 1 = 1",)


@pytest.mark.skipif(HAS_DOJO, reason="LeanDojo is installed: the missing-package path cannot be shown")
def test_without_lean_dojo_the_driver_says_how_to_get_it() -> None:
    task = load_task(TASK)
    driver = DojoDriver(task.repository.url, task.repository.commit, task.repository.file_path, task.theorem_name)
    with pytest.raises(LeanUnavailable, match="pip install 'veriloop\\[dojo\\]'"):
        driver.start(task.header, task.statement, 60)


@pytest.mark.skipif(not HAS_DOJO, reason=NO_DOJO)
def test_lean_dojo_results_map_onto_the_union() -> None:
    import lean_dojo

    state = convert_result(lean_dojo.TacticState("case a\n⊢ 1 = 1\n\ncase b\n⊢ True", 3), lean_dojo)
    assert isinstance(state, TacticState) and state.id == 3 and len(state.goals) == 2
    assert isinstance(convert_result(lean_dojo.ProofFinished(4, ""), lean_dojo), ProofFinished)
    assert isinstance(convert_result(lean_dojo.LeanError("unknown tactic"), lean_dojo), LeanError)
    assert isinstance(convert_result(lean_dojo.ProofGivenUp(), lean_dojo), LeanError)


@pytest.mark.lean
@pytest.mark.skipif(not HAS_DOJO, reason=NO_DOJO)
@pytest.mark.skipif(not os.environ.get("VERILOOP_LEAN_DOJO"), reason="needs VERILOOP_LEAN_DOJO=1, a Lean toolchain "
                    "and network access for LeanDojo to trace yangky11/miniF2F-lean4 (the task's `repository`; give "
                    "its full commit hash)")
def test_a_dojo_session_on_a_minif2f_theorem() -> None:
    task = load_task(TASK)
    driver = DojoDriver(task.repository.url, task.repository.commit, task.repository.file_path, task.theorem_name)
    try:
        root = driver.start(task.header, task.statement, 600)
        assert root.goals[-1].endswith("17 * 18 % 4 = 2")
        assert isinstance(driver.run_tac(root, "norm_num", 60), ProofFinished)
    finally:
        driver.close()
