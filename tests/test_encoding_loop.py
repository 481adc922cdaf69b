"""The encoding strategy with a scripted proposer (the loop's logic; the verifiers are real)."""

from __future__ import annotations

from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task
from agent.search.encoding import compact_instance, extract_program
from agent.tasks import load_task
from agent.trace import ProposalEvent, ResultEvent, VerdictEvent, read_trace
from tests.encoding_references import SAT, SMT

SETTINGS = RunSettings(sources=("llm",), samples=2)


def test_feedback_of_a_failed_program_reaches_the_next_prompt(repo, tmp_path):
    task = load_task(repo / "tasks" / "sat" / "queens-6.yaml")
    broken = SAT["queens"].replace("n = instance[\"n\"]", "n = instance[\"size\"]")
    proposer = ScriptedProposer([broken, broken, SAT["queens"]])
    result = run_task(task, SETTINGS, proposer, tmp_path / "trace.jsonl", "loop")
    assert result.status == "solved" and result.certified and result.proposals == 3
    second_prompt = proposer.prompts[1].messages[-1]["content"]
    assert "KeyError: 'size'" in second_prompt and "line 2" in second_prompt
    assert proposer.prompts[1].response_prefix == "```python\n"
    events = read_trace(tmp_path / "trace.jsonl")
    assert [type(event) for event in events[1:]] == [ProposalEvent, VerdictEvent] * 3 + [ResultEvent]
    assert events[4].cached  # the same program twice is verified once


def test_an_unsat_answer_is_graded_against_the_known_answer(repo, tmp_path):
    # Right on every small instance, but claims UNSAT for the real (large) graph: the faithfulness
    # test cannot see this, the known answer can.
    task = load_task(repo / "tasks" / "sat" / "flat30-1.yaml")
    cheat = SAT["colouring"].replace("emit(cnf, pool)", "if n > 20:\n    cnf.append([])\nemit(cnf, pool)")
    result = run_task(task, SETTINGS, ScriptedProposer([cheat]), tmp_path / "trace.jsonl", "grade")
    assert result.status == "unsolved" and result.answer == "UNSAT"
    assert "known to be SAT" in result.message


def test_smt_tasks_use_their_own_prompt(repo, tmp_path):
    task = load_task(repo / "tasks" / "smt" / "schedule-chain.yaml")
    proposer = ScriptedProposer([SMT["scheduling"]])
    result = run_task(task, SETTINGS, proposer, tmp_path / "trace.jsonl", "smt")
    assert result.status == "solved" and result.answer == "UNSAT" and result.certified
    messages = proposer.prompts[0].messages
    assert [message["role"] for message in messages] == ["system", "user", "assistant", "user"]  # one worked example
    assert "z3" in messages[0]["content"] and "Latin square" in messages[1]["content"]
    assert "('slot', j)" in messages[-1]["content"] and "schedul" in messages[-1]["content"]


def test_without_the_model_source_nothing_is_proposed(repo, tmp_path):
    task = load_task(repo / "tasks" / "sat" / "queens-6.yaml")
    result = run_task(task, RunSettings(sources=("symbolic",)), None, tmp_path / "trace.jsonl", "none")
    assert result.status == "unsolved" and result.proposals == 0


def test_program_extraction_and_instance_display():
    assert extract_program("```python\nx = 1\n```\ntrailing words") == "x = 1\n"
    assert extract_program("x = 1\n") == "x = 1\n"
    shown = compact_instance({"vertices": 50, "edges": [[i, i + 1] for i in range(1, 50)], "colours": 3})
    assert "... 43 more" in shown and shown.startswith('{"vertices": 50')
