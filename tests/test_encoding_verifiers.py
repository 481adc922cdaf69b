"""The SAT and SMT encoding verifiers on the repository's real task files: reference encodings are
accepted with the right answer; mutants are caught by the semantic checker or the faithfulness
check, and none of them is ever accepted with a wrong answer."""

from __future__ import annotations

import pytest

from agent.tasks import load_task
from tests.encoding_references import SAT, SAT_MUTANTS, SMT, SMT_MUTANTS
from verifiers.base import REGISTRY, VerifyBudget

BUDGET = VerifyBudget(timeout_s=60)
# Per family: (a satisfiable task, an unsatisfiable task) of tasks/sat and tasks/smt.
SAT_TASKS = {
    "colouring": ("flat30-1", "groetzsch-3"),
    "pigeonhole": ("pigeonhole-5-5", "hole6"),
    "queens": ("queens-8", "queens-3"),
    "sudoku": ("sudoku-9-a", "sudoku-4-none"),
    "scheduling": ("schedule-8", "schedule-chain"),
}
SMT_TASKS = {
    "colouring": ("petersen-3", None),
    "pigeonhole": (None, "pigeonhole-4-3"),
    "queens": ("queens-8", "queens-3"),
    "sudoku": ("sudoku-9-a", None),
    "scheduling": ("schedule-8", "schedule-chain"),
}


def _task(repo, suite: str, name: str):
    return load_task(repo / "tasks" / suite / f"{name}.yaml")


def _verify(task, program: str):
    return REGISTRY.for_kind(task.kind).verify(task, program, BUDGET)


@pytest.mark.parametrize("family", sorted(SAT))
def test_sat_reference_encodings_are_accepted_with_the_known_answer(repo, family):
    for name in SAT_TASKS[family]:
        task = _task(repo, "sat", name)
        verdict = _verify(task, SAT[family])
        assert verdict.status == "accepted", (name, verdict.feedback)
        assert verdict.details.answer == task.expected
        if task.expected == "sat":
            assert verdict.certified  # the decoded solution passed the family's checker
        else:
            assert verdict.details.faithfulness.instances >= 5
            assert verdict.certified, verdict.details.solve  # the DRAT proof (or `0` by propagation) checked


@pytest.mark.parametrize("family", sorted(SMT))
def test_smt_reference_encodings_are_accepted_with_the_known_answer(repo, family):
    for name in filter(None, SMT_TASKS[family]):
        task = _task(repo, "smt", name)
        verdict = _verify(task, SMT[family])
        assert verdict.status == "accepted", (name, verdict.feedback)
        assert verdict.details.answer == task.expected
        assert verdict.certified, verdict.details  # a checked solution, or cvc5 agreeing on unsat


def _assert_caught(verdicts, bug):
    for name, task, verdict in verdicts:
        if verdict.status == "accepted":  # sound: an acceptance is still the right answer
            assert verdict.details.answer == task.expected, (name, verdict.feedback)
    rejected = [(name, verdict) for name, _, verdict in verdicts if verdict.status == "rejected"]
    assert rejected, "the mutant was never caught"
    stages = {verdict.details.stage for _, verdict in rejected}
    assert stages <= {"check", "decode", "faithfulness"}, stages
    if bug == "over":  # only the small instances can show that a solution was lost
        assert "faithfulness" in stages
        assert any("small instance" in verdict.feedback for _, verdict in rejected)


@pytest.mark.parametrize("family, description, program, bug", SAT_MUTANTS, ids=[m[1] for m in SAT_MUTANTS])
def test_sat_mutants_are_caught(repo, family, description, program, bug):
    tasks = [(name, _task(repo, "sat", name)) for name in SAT_TASKS[family]]
    _assert_caught([(name, task, _verify(task, program)) for name, task in tasks], bug)


@pytest.mark.parametrize("family, description, program, bug", SMT_MUTANTS, ids=[m[1] for m in SMT_MUTANTS])
def test_smt_mutants_are_caught(repo, family, description, program, bug):
    tasks = [(name, _task(repo, "smt", name)) for name in filter(None, SMT_TASKS[family])]
    _assert_caught([(name, task, _verify(task, program)) for name, task in tasks], bug)


def test_the_wrong_solution_feedback_names_the_violated_constraint(repo):
    task = _task(repo, "sat", "queens-3")
    program = SAT["queens"].replace("        cnf.append([-q(r1, c1), -q(r2, c2)])\n", "        pass\n")
    verdict = _verify(task, program)
    assert verdict.status == "rejected" and verdict.details.stage == "check"
    assert "share a diagonal" in verdict.feedback
    assert verdict.counterexample["violations"]


def test_a_false_unsat_names_the_small_instance_and_a_lost_solution(repo):
    task = _task(repo, "sat", "petersen-2")
    program = SAT["colouring"].replace("emit(cnf, pool)", "cnf.append([-x(1, 1)])\nemit(cnf, pool)")
    verdict = _verify(task, program)
    assert verdict.status == "rejected" and verdict.details.stage == "faithfulness"
    assert "Over-constrained" in verdict.feedback and "vertices" in verdict.feedback
    assert "instance" in verdict.counterexample and "excluded" in verdict.counterexample


def test_a_failing_program_gets_its_error_line(repo):
    task = _task(repo, "sat", "queens-8")
    verdict = _verify(task, "n = instance['n']\npool = IDPool()\nfor r in range(n):\n    pool.id(('queen', r, z))\n")
    assert verdict.status == "rejected" and verdict.details.stage == "program"
    assert "line 4 `pool.id(('queen', r, z))`: NameError" in verdict.feedback


def test_a_program_that_ignores_the_instance_fails_the_faithfulness_check(repo):
    # Hard-wires the 3-queens answer (the empty clause): right on the instance, wrong on the small ones.
    task = _task(repo, "sat", "queens-3")
    program = "pool = IDPool()\nfor r in range(1, 4):\n    for c in range(1, 4):\n        pool.id(('queen', r, c))\nemit([[]], pool)\n"
    verdict = _verify(task, program)
    assert verdict.status == "rejected" and verdict.details.stage == "faithfulness"
    assert "n = 1" in verdict.feedback


def test_a_variable_map_without_the_family_keys_is_rejected(repo):
    task = _task(repo, "sat", "pigeonhole-5-5")
    verdict = _verify(task, "pool = IDPool()\nemit([[pool.id(('x', 1))]], pool)\n")
    assert verdict.status == "rejected" and verdict.details.stage == "variables"
    assert "('in', p, h)" in verdict.feedback


def test_unparseable_dimacs_and_smtlib_are_rejected_by_the_solvers_parsers(repo, tmp_path):
    from verifiers.encoding import CnfFormula, ProgramOutput, Rejection
    from verifiers.smt import SmtFormula

    with pytest.raises(Rejection, match="DIMACS"):
        CnfFormula(ProgramOutput("p cnf 2 1\n1 x 0\n", []))
    with pytest.raises(Rejection, match="SMT-LIB"):
        SmtFormula(ProgramOutput("(assert (> a 1)", []))
