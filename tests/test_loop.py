"""The loop's logic with a scripted proposer and the real Z3 verifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task
from agent.search.invariant import extract_candidate, without_repeats
from agent.tasks import load_task
from agent.trace import Header, ProposalEvent, RefutationEvent, ResultEvent, VerdictEvent, read_trace

TASKS = Path(__file__).resolve().parent.parent / "tasks" / "code2inv"


def run(number: int, proposer, tmp_path: Path, **settings):
    task = load_task(TASKS / f"{number}.yaml")
    trace = tmp_path / "trace.jsonl"
    result = run_task(task, RunSettings(**settings), proposer, trace, "test-run", TASKS / f"{number}.yaml")
    return result, read_trace(trace)


def test_first_accepted_proposal_ends_the_run(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["x >= y", "x >= 1 && y >= 0 && x >= y", "never reached"])
    result, events = run(1, proposer, tmp_path, sources=("llm",), samples=1)
    assert result.status == "solved" and result.answer == "x >= 1 && y >= 0 && x >= y"
    assert result.solved_by == "llm" and result.certified
    assert proposer.remaining == ["never reached"]
    assert isinstance(events[0], Header) and isinstance(events[-1], ResultEvent)
    proposals = [e for e in events if isinstance(e, ProposalEvent)]
    assert [p.text for p in proposals] == ["x >= y", "x >= 1 && y >= 0 && x >= y"]


def test_counterexamples_go_into_the_next_prompt(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["x >= y", "x >= 1 && y >= 0 && x >= y"])
    run(1, proposer, tmp_path, sources=("llm",), samples=1)
    first, second = (prompt.messages[-1]["content"] for prompt in proposer.prompts)
    assert "Consecution fails" not in first
    assert "`x >= y`: Consecution fails: with" in second


def test_inductive_conjuncts_of_rejected_proposals_are_recombined(tmp_path: Path) -> None:
    # Neither proposal is an invariant: the first has a non-inductive conjunct, the second is too weak.
    # Houdini keeps `x >= y` and `y >= 0` from the first and `x >= 1` from the second.
    proposer = ScriptedProposer(["x >= y && y >= 0 && x <= 5", "x >= 1"])
    result, events = run(1, proposer, tmp_path, sources=("llm",), samples=2)
    assert result.status == "solved"
    assert result.solved_by == "houdini(llm)"
    assert set(result.answer.split(" && ")) <= {"x >= y", "y >= 0", "x >= 1"}
    rounds = [e for e in events if isinstance(e, VerdictEvent) and e.round is not None]
    assert rounds, "the recombination is traced round by round"


def test_proved_facts_are_shown_to_the_model(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["y >= 0 && y <= 5", "y == y + 1", "x >= 1 && y >= 0 && x >= y"])
    result, _ = run(1, proposer, tmp_path, sources=("llm",), samples=1)
    assert result.status == "solved"
    assert "already proved to be inductive" not in proposer.prompts[0].messages[-1]["content"]
    assert "already proved to be inductive (you may reuse them): y >= 0" in proposer.prompts[1].messages[-1]["content"]


def test_budget_of_proposals_is_respected(tmp_path: Path) -> None:
    proposer = ScriptedProposer([f"x > {100 + n}" for n in range(50)])
    result, events = run(1, proposer, tmp_path, sources=("llm",), samples=4, max_proposals=6)
    assert result.status == "unsolved" and "proposals used" in result.message
    assert result.proposals_by_source["llm"] == 6  # Houdini's recombinations are not counted
    assert len([e for e in events if isinstance(e, ProposalEvent) and e.source == "llm"]) == 6


def test_a_candidate_sampled_again_is_not_verified_or_counted_again(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["x >= y", "x >= y", "x >=  y ", "x >= 1 && y >= 0 && x >= y"])
    result, events = run(1, proposer, tmp_path, sources=("llm",), samples=2, max_proposals=2)
    assert result.status == "solved" and result.solved_by == "llm"
    assert [e.text for e in events if isinstance(e, ProposalEvent)] == ["x >= y", "x >= 1 && y >= 0 && x >= y"]
    assert len([e for e in events if isinstance(e, VerdictEvent)]) == 2


def test_a_repeated_disjunct_or_conjunct_is_verified_and_reported_once(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["x >= y || x >= y", "x >= 1 && y >= 0 && (x >= y || x >= y || x >= y) && y >= 0"])
    result, events = run(1, proposer, tmp_path, sources=("llm",), samples=2, max_proposals=2)
    assert result.status == "solved" and result.answer == "x >= 1 && y >= 0 && x >= y"
    proposals = [e for e in events if isinstance(e, ProposalEvent)]
    assert [e.text for e in proposals] == ["x >= y", "x >= 1 && y >= 0 && x >= y"]
    assert proposals[1].raw.count("x >= y") == 3  # what the model wrote is kept in the trace
    assert [e.candidate for e in events if isinstance(e, VerdictEvent)] == [e.text for e in proposals]


@pytest.mark.parametrize("candidate", ["x>=0 && y>0", "(x > 0 || y > 0) && (y > 0 || x > 0)", "x >= (0", "x > 0 ? y : y"])
def test_a_candidate_without_repeats_is_left_as_written(candidate: str) -> None:
    assert without_repeats(candidate) == candidate


def test_a_model_that_only_repeats_itself_is_given_up_on(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["x >= y"] * 40)
    result, events = run(1, proposer, tmp_path, sources=("llm",), samples=2, max_proposals=6)
    assert result.status == "unsolved" and "already verified" in result.message
    assert len([e for e in events if isinstance(e, ProposalEvent)]) == 1
    assert len(proposer.remaining) == 40 - 2 * 4  # one step with the candidate, three that repeat it


def test_a_batch_that_fills_the_budget_is_still_recombined(tmp_path: Path) -> None:
    # As many samples as proposals allowed: Houdini still recombines the batch's conjuncts, under its
    # own source, because it proposes nothing new.
    proposer = ScriptedProposer(["x >= y && y >= 0 && x <= 5", "x >= 1", "never reached"])
    result, events = run(1, proposer, tmp_path, sources=("llm",), samples=2, max_proposals=2)
    assert result.status == "solved" and result.solved_by == "houdini(llm)"
    assert proposer.remaining == ["never reached"]
    assert [e.source for e in events if isinstance(e, ProposalEvent)] == ["llm", "llm", "houdini"]
    assert result.proposals_by_source == {"llm": 2, "houdini": 1}


def test_symbolic_sources_alone_never_call_the_model(tmp_path: Path) -> None:
    proposer = ScriptedProposer(["x >= 1 && y >= 0 && x >= y"])
    result, events = run(93, proposer, tmp_path, sources=("symbolic", "dynamic"))
    assert result.status == "solved" and result.solved_by.startswith("houdini(")
    assert proposer.prompts == []
    assert {e.source for e in events if isinstance(e, ProposalEvent)} <= {"symbolic", "dynamic", "houdini"}


def test_an_accepted_houdini_answer_is_cut_at_once_to_the_conjuncts_its_checks_need(tmp_path: Path) -> None:
    result, events = run(1, None, tmp_path, sources=("symbolic",))
    verdicts = [e.verdict for e in events if isinstance(e, VerdictEvent)]
    first = next(number for number, verdict in enumerate(verdicts) if verdict.status == "accepted")
    assert len(verdicts[first].details.conjuncts) > 10
    # The next candidate is what Z3's unsat cores name (see `needed_conjuncts`), verified in full at
    # once (cvc5's re-check included): the answer, with no trial removals.
    assert len(verdicts) == first + 2 and verdicts[-1].status == "accepted" and verdicts[-1].certified
    assert set(verdicts[-1].details.conjuncts) == {"x >= y", "x >= 1", "y >= 0"}
    assert result.status == "solved" and result.certified and set(result.answer.split(" && ")) == {
        "x >= y", "x >= 1", "y >= 0"}


def test_dynamic_equalities_are_needed_where_the_text_has_no_such_atom(tmp_path: Path) -> None:
    text_only, _ = run(124, None, tmp_path / "a", sources=("symbolic",))
    both, _ = run(124, None, tmp_path / "b", sources=("symbolic", "dynamic"))
    assert text_only.status == "unsolved"
    assert both.status == "solved" and "dynamic" in both.solved_by


def test_a_violated_assertion_is_refuted_not_solved(tmp_path: Path) -> None:
    result, events = run(26, ScriptedProposer(["n < 0"]), tmp_path)
    assert result.status == "refuted" and result.certified
    assert any(isinstance(e, RefutationEvent) for e in events)
    assert result.answer is None


def test_unknown_verdicts_never_solve(tmp_path: Path) -> None:
    hard = "x >= 1 && y >= 0 && x >= y && x*x*x*x*x + y*y*y*y*y != 1234567*x*y*y*y + 98765431"
    task = load_task(TASKS / "1.yaml")
    task = task.model_copy(update={"budget": task.budget.model_copy(update={"verifier_timeout_s": 0.2})})
    trace = tmp_path / "trace.jsonl"
    result = run_task(task, RunSettings(sources=("llm",), samples=1, max_proposals=1), ScriptedProposer([hard]),
                      trace, "unknown-run")
    verdicts = [e for e in read_trace(trace) if isinstance(e, VerdictEvent)]
    assert verdicts[0].verdict.status == "unknown"
    # Houdini's recombination (not counted against the one proposal) proves the linear part; the
    # conjunct Z3 could not decide is not in the answer, and the answer is an accepted candidate.
    assert result.status == "solved" and result.solved_by == "houdini(llm)"
    assert "*" not in result.answer
    assert any(v.verdict.status == "accepted" and v.verdict.details.invariant == result.answer for v in verdicts)


def test_time_limit_is_respected(tmp_path: Path) -> None:
    proposer = ScriptedProposer([f"x > {k}" for k in range(10_000)])
    result, _ = run(1, proposer, tmp_path, sources=("llm",), samples=8, timeout_s=1.0, max_proposals=10_000)
    assert result.status == "unsolved" and "time limit" in result.message
    assert result.wall_s < 5


@pytest.mark.parametrize("completion, candidate", [
    ("x >= 0 && y >= 0", "x >= 0 && y >= 0"),
    ("```c\nx >= 0;\n```", "x >= 0"),
    ("Invariant: x >= 0", "x >= 0"),
    ("assert( (x >= 0) );", "(x >= 0)"),
    ("while (x < n) {", "while (x < n) {"),  # left for the verifier to reject
])
def test_candidate_extraction(completion: str, candidate: str) -> None:
    assert extract_candidate(completion) == candidate
