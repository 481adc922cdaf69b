"""With a real Lean: the REPL driver, the from-scratch check against exploits, and a solved task.

Run them with a Lean 4 project that has Mathlib and the REPL built (see the README, "Lean 4"):

    VERILOOP_LEAN_PROJECT=/path/to/project python -m pytest -m lean

Without one they are skipped, saying so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.loop import RunSettings, run_task
from agent.tasks import load_task
from agent.trace import TacticEvent, VerdictEvent, read_trace
from tests.lean_support import real_lean_project
from verifiers.base import VerifyBudget
from verifiers.lean.compile import compile_file
from verifiers.lean.repl import ReplDriver, ReplProcess
from verifiers.lean.trust import assemble, judge
from verifiers.lean.types import LeanError, ProofFinished, TacticState
from verifiers.lean.verifier import LeanVerifier

pytestmark = pytest.mark.lean

TASKS = Path(__file__).resolve().parent.parent / "tasks" / "minif2f" / "valid"
HEADER = "import Mathlib\n"
STATEMENT = "theorem two_sides (p q : Prop) (hp : p) (hq : q) : p ∧ q"
TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def project():
    return real_lean_project()


def test_the_repl_driver_proves_step_by_step(project) -> None:
    driver = ReplDriver(ReplProcess(project, project.repl_dir()))
    try:
        root = driver.start(HEADER, STATEMENT, TIMEOUT_S)
        assert root.goals[0].endswith("⊢ p ∧ q")
        split = driver.run_tac(root, "constructor", 60)
        assert isinstance(split, TacticState) and len(split.goals) == 2
        assert isinstance(driver.run_tac(split, "exact hq", 60), LeanError)
        left = driver.run_tac(split, "exact hp", 60)
        assert isinstance(left, TacticState) and left.goals[0].endswith("⊢ q")
        assert isinstance(driver.run_tac(left, "exact hq", 60), ProofFinished)
        driver.process.drop("test")  # a restart: the state is rebuilt by replaying its path
        assert isinstance(driver.run_tac(left, "exact hq", 60), ProofFinished)
    finally:
        driver.close()


def task(statement: str = STATEMENT, name: str = "two_sides"):
    from types import SimpleNamespace

    return SimpleNamespace(header=HEADER, statement=statement, theorem_name=name, lean_project=None)


def test_an_honest_proof_is_accepted(project) -> None:
    verdict = LeanVerifier().verify(task(), "constructor\n· exact hp\n· exact hq", VerifyBudget(timeout_s=TIMEOUT_S))
    assert verdict.status == "accepted" and verdict.certified
    assert set(verdict.details.axioms) <= {"propext", "Classical.choice", "Quot.sound"}


def test_a_wrong_proof_is_rejected_with_lean_errors(project) -> None:
    verdict = LeanVerifier().verify(task(), "constructor\n· exact hq\n· exact hq", VerifyBudget(timeout_s=TIMEOUT_S))
    assert verdict.status == "rejected" and "proof line 2" in verdict.feedback


# Lean-level defence alone: these files skip the source checks on purpose, and `judge` must still refuse them.
@pytest.mark.parametrize("statement, name, proof, says", [
    (STATEMENT, "two_sides", "sorry", "sorry"),
    ("theorem big : 2 ^ 64 % 7 = 2", "big", "native_decide", "ofReduceBool"),
    (STATEMENT, "two_sides", "exact cheat.elim\n\naxiom cheat : False", ""),
    (STATEMENT, "two_sides", "constructor <;> assumption\n\n#exit", ""),
    # Commands on a continuation line or after a term, where no tactic stands: inside `(by ... )` they
    # are parse errors, whether or not a list names them.
    (STATEMENT, "two_sides", "exact ⟨hp, hq⟩\n    theorem cheat : True := trivial", "unexpected"),
    (STATEMENT, "two_sides", "exact ⟨hp, hq⟩ example : True := trivial", "unexpected"),
])
def test_lean_level_checks_refuse_exploits(project, statement: str, name: str, proof: str, says: str) -> None:
    assembled = assemble(HEADER, statement, name, proof)
    output = compile_file(project, assembled.text, TIMEOUT_S)
    judgement = judge(output.messages, assembled, name)
    assert judgement.status != "accepted" and says in judgement.feedback


def test_solve_a_minif2f_task_with_symbolic_tactics(project, tmp_path: Path) -> None:
    path = TASKS / "mathd_numbertheory_101.yaml"
    result = run_task(load_task(path), RunSettings(sources=("symbolic",), timeout_s=TIMEOUT_S), None,
                      tmp_path / "trace.jsonl", "lean-test", path)
    events = read_trace(tmp_path / "trace.jsonl")
    assert result.status == "solved" and result.certified
    tactics = [event for event in events if isinstance(event, TacticEvent)]
    assert tactics and tactics[0].goals_before == ["⊢ 17 * 18 % 4 = 2"]
    assert any(isinstance(event, VerdictEvent) and event.verdict.status == "accepted" for event in events)
    assert events[0].versions["lean-toolchain"] == project.toolchain()  # the header names the Lean that checked it


def test_whole_proof_mode_compiles_from_scratch(project, tmp_path: Path) -> None:
    path = TASKS / "mathd_numbertheory_101.yaml"
    settings = RunSettings(sources=("symbolic",), strategies={"lean": {"mode": "whole_proof"}}, timeout_s=TIMEOUT_S)
    result = run_task(load_task(path), settings, None, tmp_path / "trace.jsonl", "t", path)
    assert result.status == "solved" and result.solved_by == "symbolic"
