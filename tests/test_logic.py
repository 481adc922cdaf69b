"""The logic-puzzle verifier and strategy on real puzzles from the repository's logic suite."""

from __future__ import annotations

import pytest

from agent.llm.scripted import ScriptedProposer
from agent.loop import RunSettings, run_task
from agent.tasks import TaskFileError, load_task, parse_task
from verifiers.base import REGISTRY, VerifyBudget

BUDGET = VerifyBudget(timeout_s=60)

BOOKS = """
green, blue, white, purple, yellow = Ints("green blue white purple yellow")  # 1 is the leftmost
books = [green, blue, white, purple, yellow]
premises = [Distinct(books)] + [And(book >= 1, book <= 5) for book in books]
premises += [blue > yellow, white < yellow, blue == 4, purple == 2]
emit(premises, options={"A": green == 2, "B": blue == 2, "C": white == 2, "D": purple == 2, "E": yellow == 2})
"""

CHARLIE = """
Thing = DeclareSort("Thing")
kind, quiet, red, rough, cold, smart = [Function(n, Thing, BoolSort()) for n in ["kind", "quiet", "red", "rough", "cold", "smart"]]
charlie = Const("charlie", Thing)
premises = [kind(charlie), quiet(charlie), red(charlie), rough(charlie)]
emit(premises, statement=kind(charlie))
"""

MAX = """
Thing = DeclareSort("Thing")
yumpus, dumpus, wumpus, impus, tumpus, sour = [Function(n, Thing, BoolSort()) for n in ["yumpus", "dumpus", "wumpus", "impus", "tumpus", "sour"]]
max_ = Const("max", Thing)
x = Const("x", Thing)
rules = [ForAll([x], Implies(yumpus(x), dumpus(x))), ForAll([x], Implies(dumpus(x), wumpus(x))),
         ForAll([x], Implies(wumpus(x), impus(x))), ForAll([x], Implies(impus(x), tumpus(x))),
         ForAll([x], Implies(tumpus(x), Not(sour(x))))]
emit(rules + [yumpus(max_)], statement=sour(max_))
"""


@pytest.fixture(scope="module")
def tasks(repo):
    folder = repo / "tasks" / "logic"
    return {name: load_task(folder / f"{name}.yaml")
            for name in ("logical_deduction_0", "ProofWriter_AttNoneg-OWA-D5-1041_Q1", "ProntoQA_1", "FOLIO_dev_0")}


def verify(task, program):
    return REGISTRY.for_kind("logic").verify(task, program, BUDGET)


def test_a_faithful_formalisation_entails_the_labelled_option(tasks):
    verdict = verify(tasks["logical_deduction_0"], BOOKS)
    assert verdict.status == "accepted" and verdict.details.answer == "D" == tasks["logical_deduction_0"].expected
    assert verdict.certified and all(query["cvc5"] == query["z3"] for query in verdict.details.queries)


def test_true_false_and_unknown_questions(tasks):
    charlie = verify(tasks["ProofWriter_AttNoneg-OWA-D5-1041_Q1"], CHARLIE)
    assert charlie.status == "accepted" and charlie.details.answer == "A"  # True
    pronto = verify(tasks["ProntoQA_1"], MAX)
    assert pronto.status == "accepted" and pronto.details.answer == "B"  # False
    # Premises that say nothing about the statement make it Unknown, offered in FOLIO as "Uncertain".
    folio = verify(tasks["FOLIO_dev_0"], "p = Bool('performs')\nemit([Or(p, Not(p))], statement=p)\n")
    assert folio.status == "accepted" and folio.details.answer == "C"


@pytest.mark.parametrize("change, reason", [
    (("purple == 2]", "]"), "No option follows"),
    (("purple == 2]", "purple == 2, purple == 3]"), "contradict"),
    (('"A": green == 2', '"A": purple == 2'), "all follow"),
    ((', "E": yellow == 2', ""), "exactly the letters"),
])
def test_formalisations_that_do_not_decide_the_question_are_rejected(tasks, change, reason):
    verdict = verify(tasks["logical_deduction_0"], BOOKS.replace(*change))
    assert verdict.status == "rejected" and reason in verdict.feedback


def test_an_undecided_statement_is_rejected_when_unknown_is_not_an_option(tasks):
    verdict = verify(tasks["ProntoQA_1"], MAX.replace("emit(rules + [yumpus(max_)]", "emit(rules"))
    assert verdict.status == "rejected" and "neither prove nor refute" in verdict.feedback


def test_the_label_grades_the_answer_but_never_steers_the_search(tasks, tmp_path):
    task = tasks["logical_deduction_0"]
    wrong = BOOKS.replace("purple == 2]", "purple == 1]")  # then the white book is second: option C
    proposer = ScriptedProposer([wrong, BOOKS])
    result = run_task(task, RunSettings(sources=("llm",), samples=1), proposer, tmp_path / "trace.jsonl", "logic")
    assert result.status == "unsolved" and result.answer == "C" and "data set's answer is D" in result.message
    assert result.proposals == 1  # the first accepted formalisation ends the search
    relabelled = ScriptedProposer([wrong])
    run_task(task.model_copy(update={"expected": "A"}), RunSettings(sources=("llm",), samples=1), relabelled,
             tmp_path / "t1.jsonl", "logic")
    assert relabelled.prompts == proposer.prompts  # the label never reaches the model
    solved = run_task(task, RunSettings(sources=("llm",), samples=1), ScriptedProposer([BOOKS]), tmp_path / "t2.jsonl", "l2")
    assert solved.status == "solved" and solved.answer == "D" and solved.certified


def test_feedback_reaches_the_next_prompt(tasks, tmp_path):
    task = tasks["logical_deduction_0"]
    proposer = ScriptedProposer(["emit([], options={})\n", BOOKS])
    result = run_task(task, RunSettings(sources=("llm",), samples=1), proposer, tmp_path / "trace.jsonl", "logic")
    assert result.status == "solved" and result.proposals == 2
    assert "exactly the letters A, B, C, D, E" in proposer.prompts[1].messages[-1]["content"]


def test_a_task_with_malformed_options_is_refused():
    with pytest.raises(TaskFileError, match="options"):
        parse_task({"id": "x", "kind": "logic", "style": "truth", "context": "c", "question": "q",
                    "options": ["A) Yes", "B) No"]}, "x.yaml")


def test_a_query_z3_cannot_decide_in_time_is_unknown_never_accepted(tasks):
    # Premises that entail no option, but only a pigeonhole argument shows it: too hard for one second.
    hard = """
holes = 11
pigeon = [[Bool(f"p{i}_{j}") for j in range(holes)] for i in range(holes + 1)]
premises = [Or(row) for row in pigeon]
premises += [Not(And(pigeon[i][j], pigeon[k][j])) for j in range(holes) for i in range(holes + 1) for k in range(i)]
emit(premises, options={letter: BoolVal(False) for letter in "ABCDE"})
"""
    verdict = REGISTRY.for_kind("logic").verify(tasks["logical_deduction_0"], hard, VerifyBudget(timeout_s=2))
    assert verdict.status == "unknown" and "not an answer" in verdict.feedback
