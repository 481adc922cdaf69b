"""The Lean search's own logic, with the scripted proposer and a test double of the tactic driver.

The double below is a hand-written state machine over goal texts: it stands in for Lean's *tactic
steps only*, so that the search's ordering, budgets, dedup and feedback can be checked. The verifier
is the real one: with no Lean toolchain here, every proof the search finds goes to the from-scratch
compile, which cannot run, so nothing is ever accepted (and the tests check that too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task
from agent.search.lean import extract_tactic
from agent.tasks import load_task
from agent.trace import LeanCheckEvent, ProposalEvent, SearchEvent, TacticEvent, VerdictEvent, read_trace
from verifiers.lean.types import LeanError, LeanTimeout, LeanUnavailable, Message, Position, ProofFinished, TacticState
from verifiers.lean.verifier import LeanVerifier

TASK = Path(__file__).resolve().parent.parent / "tasks" / "minif2f" / "valid" / "mathd_algebra_10.yaml"
ROOT = "⊢ root"
FINISHED = None  # a transition to FINISHED closes the last goal


class StateMachineDriver:
    """Search test double: `transitions[goals][tactic]` is the next goals text, FINISHED, an error
    message (a str starting with "error:"), or an exception to raise. Not Lean."""

    name = "state-machine-double"

    def __init__(self, transitions: dict[str, dict], proof_errors: list[list[Message]] | None = None) -> None:
        self.transitions = transitions
        self.calls: list[tuple[str, str]] = []
        self.proof_errors = list(proof_errors or [])
        self.checked: list[str] = []
        self._ids = 0

    def start(self, header: str, statement: str, timeout_s: float) -> TacticState:
        assert timeout_s > 0
        return TacticState(0, (ROOT,))

    def run_tac(self, state: TacticState, tactic: str, timeout_s: float):
        assert timeout_s > 0
        self.calls.append((state.pp, tactic))
        outcome = self.transitions.get(state.pp, {}).get(tactic, "error: unknown tactic")
        if isinstance(outcome, Exception):
            raise outcome
        self._ids += 1
        if outcome is FINISHED:
            return ProofFinished(self._ids)
        if outcome.startswith("error:"):
            return LeanError(outcome.removeprefix("error:").strip())
        return TacticState(self._ids, (outcome,))

    def check_proof(self, header: str, statement: str, proof: str, timeout_s: float):
        self.checked.append(proof)
        return tuple(self.proof_errors.pop(0)) if self.proof_errors else ()


@pytest.fixture(autouse=True)
def no_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERILOOP_LEAN_PROJECT", raising=False)


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver, proposer, search: dict | None = None, **settings):
    monkeypatch.setattr(LeanVerifier, "open_driver", lambda self, task, which="repl": driver)
    task = load_task(TASK)
    task = task.model_copy(update={"search": task.search.model_copy(update=search or {})})
    trace = tmp_path / "trace.jsonl"
    result = run_task(task, RunSettings(**settings), proposer, trace, "test-run", TASK)
    return result, read_trace(trace)


def expanded_goals(events) -> list[str]:
    """The goals of each expanded node, in expansion order."""
    order: list[str] = []
    for event in events:
        if isinstance(event, TacticEvent) and (not order or event.goals_before[0] != order[-1]):
            order.append(event.goals_before[0])
    return order


def test_the_best_scored_state_is_expanded_first(tmp_path, monkeypatch) -> None:
    driver = StateMachineDriver({
        ROOT: {"likely": "⊢ a", "unlikely": "⊢ b"},
        "⊢ a": {"deep": "⊢ a2"},
        "⊢ b": {},
    })
    proposer = ScriptedProposer([("likely", -0.1), ("unlikely", -2.0),  # expansion 1: the root
                                 ("deep", -5.0), ("noise", -0.2),  # expansion 2: ⊢ a (score -0.1)
                                 ("x", -1.0), ("y", -1.0),  # expansion 3: ⊢ b (-2.0) before ⊢ a2 (-5.1)
                                 ("z", -1.0), ("w", -1.0)])
    result, events = run(tmp_path, monkeypatch, driver, proposer, sources=("llm",), samples=2)
    assert expanded_goals(events) == [ROOT, "⊢ a", "⊢ b", "⊢ a2"]
    assert result.status == "unsolved"
    summary = [e for e in events if isinstance(e, SearchEvent)][-1]
    assert summary.expansions == 4 and summary.nodes == 4 and "no proof state left" in summary.stopped


def test_a_proof_state_is_never_expanded_twice(tmp_path, monkeypatch) -> None:
    driver = StateMachineDriver({
        ROOT: {"left": "⊢ same", "right": "⊢ same", "loop": ROOT},
        "⊢ same": {"back": ROOT, "again": "⊢ same"},
    })
    proposer = ScriptedProposer(["left", "right", "loop", "back", "again"])
    result, events = run(tmp_path, monkeypatch, driver, proposer, sources=("llm",), samples=3)
    tactics = [e for e in events if isinstance(e, TacticEvent)]
    assert [(t.tactic, t.outcome) for t in tactics] == [
        ("left", "state"), ("right", "duplicate"), ("loop", "duplicate"),  # root expanded once
        ("back", "duplicate"), ("again", "duplicate"),  # ⊢ same expanded once; nothing new
    ]
    assert expanded_goals(events) == [ROOT, "⊢ same"]
    assert [e for e in events if isinstance(e, SearchEvent)][-1].duplicates == 4


def test_a_finished_proof_goes_to_the_from_scratch_check_and_without_lean_is_not_accepted(tmp_path, monkeypatch) -> None:
    driver = StateMachineDriver({ROOT: {"intro": "⊢ next"}, "⊢ next": {"close": FINISHED}})
    proposer = ScriptedProposer(["intro", "close"])
    result, events = run(tmp_path, monkeypatch, driver, proposer, sources=("llm",), samples=1)
    verdicts = [e for e in events if isinstance(e, VerdictEvent)]
    assert [v.candidate for v in verdicts] == ["intro\nclose"]  # the tactics on the path, in order
    assert verdicts[0].verdict.status == "error" and "no Lean toolchain" in verdicts[0].verdict.feedback
    assert result.status == "unsolved" and result.answer is None and not result.certified
    finished = [e for e in events if isinstance(e, TacticEvent) and e.outcome == "finished"]
    assert finished and finished[0].goals_before == ["⊢ next"]


def test_symbolic_tactics_come_first_and_their_errors_reach_the_prompt(tmp_path, monkeypatch) -> None:
    driver = StateMachineDriver({ROOT: {"norm_num": "error: norm_num failed to simplify", "model": "⊢ m"}})
    proposer = ScriptedProposer(["model"])
    result, events = run(tmp_path, monkeypatch, driver, proposer, search={"symbolic_tactics": ["norm_num", "omega"]},
                         sources=("llm", "symbolic"), samples=1, strategies={"lean": {"expansions": 1}})
    assert [call[1] for call in driver.calls] == ["norm_num", "omega", "model"]
    proposals = [e for e in events if isinstance(e, ProposalEvent)]
    assert [(p.source, p.logprob) for p in proposals] == [("symbolic", -1.0), ("symbolic", -1.0), ("llm", -1.0)]
    prompt = proposer.prompts[0].messages[-1]["content"]
    assert "⊢ root" in prompt and "`norm_num`: norm_num failed to simplify" in prompt
    assert "all 1 expansions used" in result.message


def test_budgets_end_the_search(tmp_path, monkeypatch) -> None:
    chain = {ROOT: {"t": "⊢ 1"}, "⊢ 1": {"t": "⊢ 2"}, "⊢ 2": {"t": "⊢ 3"}, "⊢ 3": {"t": "⊢ 4"}}
    result, events = run(tmp_path, monkeypatch, StateMachineDriver(chain), ScriptedProposer(["t"] * 10),
                         sources=("llm",), samples=1, strategies={"lean": {"expansions": 2}})
    assert result.status == "unsolved" and "all 2 expansions used" in result.message
    assert expanded_goals(events) == [ROOT, "⊢ 1"]
    result, events = run(tmp_path, monkeypatch, StateMachineDriver(chain), ScriptedProposer(["t"] * 10),
                         sources=("llm",), samples=1, max_proposals=3)
    assert result.status == "unsolved" and "all 3 proposals used" in result.message
    assert result.proposals == 3
    result, _ = run(tmp_path, monkeypatch, StateMachineDriver(chain), ScriptedProposer(["t"] * 10),
                    sources=("llm",), samples=1, timeout_s=1e-6)
    assert result.status == "unsolved" and "time limit" in result.message


def test_a_lean_failure_costs_the_tactic_not_the_run(tmp_path, monkeypatch) -> None:
    driver = StateMachineDriver({ROOT: {"slow": LeanTimeout("Lean did not answer within 30 s"), "fine": "⊢ ok"}})
    result, events = run(tmp_path, monkeypatch, driver, ScriptedProposer(["slow", "fine"]), sources=("llm",), samples=2)
    outcomes = [(e.tactic, e.outcome) for e in events if isinstance(e, TacticEvent)]
    assert outcomes == [("slow", "timeout"), ("fine", "state")]
    assert [e for e in events if isinstance(e, SearchEvent)][-1].infrastructure_errors == 1


def test_without_a_lean_driver_the_run_is_an_error_not_a_verdict(tmp_path, monkeypatch) -> None:
    def missing(self, task, which="repl"):
        raise LeanUnavailable("no Lean toolchain found: set VERILOOP_LEAN_PROJECT ...")

    monkeypatch.setattr(LeanVerifier, "open_driver", missing)
    task = load_task(TASK)
    result = run_task(task, RunSettings(sources=("symbolic",)), None, tmp_path / "t.jsonl", "r", TASK)
    assert result.status == "error" and "no Lean toolchain" in result.message


def test_whole_proofs_are_repaired_with_lean_errors(tmp_path, monkeypatch) -> None:
    lean_error = Message("error", "linarith failed to find a contradiction", Position(3, 2))
    driver = StateMachineDriver({}, proof_errors=[[lean_error]])
    proposer = ScriptedProposer(["norm_num\n  linarith", "sorry", "norm_num [abs_of_nonneg]"])
    result, events = run(tmp_path, monkeypatch, driver, proposer, sources=("llm",), samples=1, max_proposals=3,
                         strategies={"lean": {"mode": "whole_proof"}})
    # 1st: the REPL's quick look finds an error (line 3 of the command = line 2 of the proof);
    # 2nd: refused before Lean; 3rd: clean in the REPL, so compiled from scratch: no Lean here.
    second_prompt = proposer.prompts[1].messages[-1]["content"]
    assert "norm_num\nlinarith" in second_prompt
    assert "proof line 2:2: error: linarith failed to find a contradiction" in second_prompt
    third_prompt = proposer.prompts[2].messages[-1]["content"]
    assert "Rejected before Lean: `sorry`" in third_prompt
    checks = [e for e in events if isinstance(e, LeanCheckEvent)]
    assert [c.ok for c in checks] == [False, True, True]  # (the double does not screen; the REPL driver does)
    assert driver.checked == ["norm_num\nlinarith", "sorry", "norm_num [abs_of_nonneg]"]
    sources = [e.source for e in events if isinstance(e, ProposalEvent)]
    assert sources == ["llm", "repair", "repair"]
    verdicts = [e.verdict.status for e in events if isinstance(e, VerdictEvent)]
    assert verdicts == ["rejected", "error"]  # the source check, then the compile that cannot run here
    assert result.status == "unsolved"


def test_a_tactic_is_the_first_line_of_the_answer() -> None:
    assert extract_tactic("```lean\nnlinarith [sq_nonneg (a - b)];\n```") == "nlinarith [sq_nonneg (a - b)]"
    assert extract_tactic("\n  simp at h\nring") == "simp at h"
    assert extract_tactic("```") == ""
