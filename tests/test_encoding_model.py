"""The bundled model on an encoding task and a logic puzzle (marked `model`: it loads SmolLM2-135M).

The model is weak; what is checked is that the loop runs honestly with it: its programs reach the
real verifiers through the sandbox and each gets a verdict (a rejection with feedback, or an
acceptance), never a sandbox or verifier error, and the run ends with a result."""

from __future__ import annotations

import pytest

from agent.llm import load_proposer
from agent.loop import RunSettings, run_task
from agent.tasks import load_task
from agent.trace import ProposalEvent, ResultEvent, VerdictEvent, read_trace

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def proposer():
    loaded = load_proposer("bundled")
    loaded.load()
    return loaded


@pytest.mark.parametrize("task_file", ["sat/pigeonhole-5-5.yaml", "logic/logical_deduction_0.yaml"])
def test_the_bundled_models_programs_get_real_verdicts(repo, tmp_path, proposer, task_file):
    task = load_task(repo / "tasks" / task_file)
    task = task.model_copy(update={"budget": task.budget.model_copy(update={"max_new_tokens": 96})})
    settings = RunSettings(sources=("llm",), samples=2, max_proposals=2, timeout_s=300)
    result = run_task(task, settings, proposer, tmp_path / "trace.jsonl", "model")
    events = read_trace(tmp_path / "trace.jsonl")
    proposals = [event for event in events if isinstance(event, ProposalEvent)]
    verdicts = [event for event in events if isinstance(event, VerdictEvent)]
    assert len(proposals) == 2 and all(proposal.source == "llm" and proposal.tokens for proposal in proposals)
    assert len(verdicts) == 2
    for verdict in verdicts:
        assert verdict.verdict.status in ("accepted", "rejected", "unknown"), verdict.verdict.feedback
        if verdict.verdict.status == "rejected":
            assert verdict.verdict.feedback and verdict.verdict.details.stage
    assert isinstance(events[-1], ResultEvent) and result.status in ("solved", "unsolved")
