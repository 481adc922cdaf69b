"""Houdini on Z3 terms (`verifiers.invariant.largest_inductive_subset`, `agent.search.houdini`)."""

from __future__ import annotations

from pathlib import Path

import z3

from agent.tasks import load_task
from verifiers.base import VerifyBudget
from verifiers.invariant import InvariantVerifier, _unsat_hint, largest_inductive_subset, needed_conjuncts, parse_template

TASKS = Path(__file__).resolve().parent.parent / "tasks" / "code2inv"
NL_TASKS = Path(__file__).resolve().parent.parent / "tasks" / "clause2inv_nl"


def task(number: int):
    return load_task(TASKS / f"{number}.yaml")


def test_a_pool_of_thousands_of_atoms_is_refined_to_its_inductive_subset():
    # Program 1: x = 1, y = 0; while (y < 100000) { x += y; y++; } assert(x >= y).
    # Bounds on x, y and x - y at 700 constants each: 2,100 atoms, far past the old parser's limit.
    pool = [f"{term} >= {constant}" for term in ("x", "y", "x - y") for constant in range(-350, 350)]
    assert len(pool) >= 2000
    subset = largest_inductive_subset(task(1).vc_template, pool, timeout_s=60)
    assert subset.status == "inductive"
    # Exactly the lower bounds that hold on entry survive: x >= c for c <= 1, y >= c and x - y >= c for c <= 0.
    expected = {f"x >= {c}" for c in range(-350, 2)} | {f"y >= {c}" for c in range(-350, 1)} \
        | {f"x - y >= {c}" for c in range(-350, 1)}
    assert set(subset.survivors) == expected
    # The survivors' conjunction (about 1,000 conjuncts) is what the verifier then checks in full.
    verdict = InvariantVerifier().verify(task(1), " && ".join(subset.survivors), VerifyBudget(timeout_s=60))
    assert verdict.status == "accepted"


def test_atoms_falsified_initially_or_after_a_step_are_dropped_and_unreadable_ones_counted():
    pool = ["x >= y", "y >= 0", "x <= 5", "y == 0", "x >= 1", "x >= 2", "x >=", "q > 0"]
    subset = largest_inductive_subset(task(1).vc_template, pool, timeout_s=10)
    assert subset.status == "inductive"
    # x >= 2 is false on entry; x <= 5 and y == 0 break after a step.
    assert subset.survivors == ["x >= y", "y >= 0", "x >= 1"]
    assert subset.unreadable == 2


def test_non_linear_atoms_are_decided_in_a_child_and_the_result_is_the_same():
    linear = largest_inductive_subset(task(1).vc_template, ["x >= y", "y >= 0", "x <= 5", "x >= 1"], timeout_s=10)
    mixed = largest_inductive_subset(task(1).vc_template, ["x >= y", "y >= 0", "x <= 5", "x >= 1", "x * y >= 0"],
                                     timeout_s=20)
    assert linear.status == mixed.status == "inductive" and linear.survivors
    assert mixed.survivors == linear.survivors + ["x * y >= 0"]


def test_a_search_that_runs_out_of_time_is_unknown_not_inductive():
    subset = largest_inductive_subset(task(1).vc_template, ["x >= y", "x * x * x >= y * y * y % (x + 7)"],
                                      timeout_s=0.001)
    assert subset.status == "unknown" and subset.survivors == []


def test_the_conjuncts_a_houdini_answer_needs_come_out_of_unsat_cores_and_the_verifier_accepts_them():
    # Program 1 again: of the 1,054 survivors, the assertion x >= y needs x - y >= 0; x - y is kept
    # by x >= 1 (x' - y' = x - 1), and x' = x + y >= 1 by y >= 0.
    pool = [f"{term} >= {constant}" for term in ("x", "y", "x - y") for constant in range(-350, 350)]
    survivors = largest_inductive_subset(task(1).vc_template, pool, timeout_s=60).survivors
    needed = needed_conjuncts(task(1).vc_template, survivors, timeout_s=30)
    assert needed == ["x >= 1", "y >= 0", "x - y >= 0"]
    # A candidate, not a verdict: the verifier checks it, and cvc5 re-checks Z3's acceptance.
    verdict = InvariantVerifier().verify(task(1), " && ".join(needed), VerifyBudget(timeout_s=30))
    assert verdict.status == "accepted" and verdict.certified


def test_a_non_linear_answer_comes_down_to_the_polynomial_equality_it_needs():
    # Clause2Inv NL5, extended gcd by subtraction: `1 == p*s - r*q` is the assertion and is preserved
    # on its own; the bounds Houdini also keeps are not needed. Decided in a child process.
    nl5 = load_task(NL_TASKS / "NL5.yaml")
    pool = ["p >= 1", "q <= 0", "r <= 0", "s >= 1", "x >= 1", "a >= 1", "b >= 1", "a <= x", "x >= 1 || a == b",
            "1 == p * s - r * q", "p * s >= 1", "a * b >= 1"]
    survivors = largest_inductive_subset(nl5.vc_template, pool, timeout_s=30).survivors
    assert len(survivors) > 5
    needed = needed_conjuncts(nl5.vc_template, survivors, timeout_s=30)
    assert needed == ["1 == p * s - r * q"]
    assert InvariantVerifier().verify(nl5, needed[0], VerifyBudget(timeout_s=30)).status == "accepted"


def test_needed_conjuncts_of_what_is_no_invariant_or_out_of_time_are_none():
    # x <= 5 is not preserved (nor does the rest imply the assertion): no core to read.
    assert needed_conjuncts(task(1).vc_template, ["x >= 1", "x <= 5"], timeout_s=10) is None
    nl5 = load_task(NL_TASKS / "NL5.yaml")
    assert needed_conjuncts(nl5.vc_template, ["p >= 1", "1 == p * s - r * q"], timeout_s=0.001) is None


def test_the_search_side_preservation_check_decides_a_polynomial_identity_through_nlsat() -> None:
    # NL35's `x*u + y*v == a*b` is preserved by its loop: Z3's default solver takes about 2 s to say
    # so, nlsat milliseconds, so within a second only nlsat can answer. An equality the loop does
    # not preserve is never taken for preserved. (Only `needed_conjuncts` uses it: its candidate is
    # then verified by the default solver.)
    template = parse_template(load_task(NL_TASKS / "NL35.yaml").vc_template)
    for invariant, preserved in (("(= (+ (* x u) (* y v)) (* a b))", True),
                                 ("(= (* x u) (* a b))", False)):
        context = z3.Context()
        check = z3.parse_smt2_string(template.definitions(invariant) + template.checks["consecution"], ctx=context)
        assert _unsat_hint(check, context, 1.0) is preserved
