"""The bundled model in the Lean search (marked `model`: it loads SmolLM2-135M).

The tactic driver is the search's test double (every tactic yields a new goal named after it), so what
is checked is the model's side: real log-probabilities order the states, the prompts render, the
answers become one-line tactics. Without Lean nothing is accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm import load_proposer
from agent.loop import RunSettings, run_task
from agent.tasks import load_task
from agent.trace import ProposalEvent, TacticEvent, read_trace
from verifiers.lean.types import TacticState
from verifiers.lean.verifier import LeanVerifier

pytestmark = pytest.mark.model
TASK = Path(__file__).resolve().parent.parent / "tasks" / "minif2f" / "valid" / "mathd_numbertheory_101.yaml"


class EchoDriver:
    """Search test double: any tactic turns the goals into `⊢ after <tactic>`. Not Lean."""

    name = "echo-double"

    def start(self, header, statement, timeout_s):
        return TacticState(0, ("⊢ 17 * 18 % 4 = 2",))

    def run_tac(self, state, tactic, timeout_s):
        return TacticState(len(tactic), (f"{state.goals[0]}\n⊢ after {tactic}",))


def test_model_tactics_are_scored_by_their_log_probabilities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERILOOP_LEAN_PROJECT", raising=False)
    monkeypatch.setattr(LeanVerifier, "open_driver", lambda self, task, which="repl": EchoDriver())
    proposer = load_proposer("bundled")
    trace = tmp_path / "trace.jsonl"
    task = load_task(TASK)
    task = task.model_copy(update={"budget": task.budget.model_copy(update={"max_new_tokens": 24})})
    settings = RunSettings(sources=("llm",), samples=3, strategies={"lean": {"expansions": 2}}, timeout_s=240)
    result = run_task(task, settings, proposer,
                      trace, "model-test", TASK)
    events = read_trace(trace)
    proposals = [e for e in events if isinstance(e, ProposalEvent)]
    assert proposals and all(p.source == "llm" and p.logprob is not None and p.logprob < 0 for p in proposals)
    assert all("\n" not in p.text and p.text for p in proposals)
    first = [e for e in events if isinstance(e, TacticEvent) and e.node == 0 and e.outcome == "state"]
    second = [e for e in events if isinstance(e, TacticEvent) and e.node != 0]
    if first and second:
        best = max(first, key=lambda e: next(p.logprob for p in proposals if p.id == e.proposal_id))
        assert second[0].node == best.child  # the best-scored child is expanded next
    assert result.status == "unsolved"
